import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Runs a tool; resolves with its exit code and output instead of throwing on a non-zero exit. */
export type RunTool = (
  command: string,
  args: string[],
  timeoutMs: number,
) => Promise<{ code: number; stdout: string; stderr: string }>;

export const runTool: RunTool = async (command, args, timeoutMs) => {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { timeout: timeoutMs, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 127,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr || failed.message,
    };
  }
};

/** The label every data volume's filesystem gets (ext4 allows 16 bytes). */
export const VOLUME_LABEL = 'corral-data';

/**
 * The filesystem UUID of an instance's data volume, derived from the instance id: mkfs writes it into the
 * superblock, so the volume itself says whose it is. The agent finds its volume by it after a reboot (when
 * nothing else survived) and refuses a filesystem whose UUID is another's.
 */
export function volumeUuid(instanceId: string): string {
  const hex = createHash('sha256').update(`corral-volume:${instanceId}`).digest('hex').slice(0, 32).split('');
  hex[12] = '8'; // RFC 9562 version 8: custom
  hex[16] = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16); // variant 10
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export interface Probe {
  type: string;
  uuid?: string;
  label?: string;
}

/** blkid's low-level probe of one device (no cache): its filesystem, or undefined when it holds none. */
export async function probeFilesystem(run: RunTool, device: string): Promise<Probe | undefined> {
  const result = await run('blkid', ['-p', '-o', 'export', device], 30_000);
  // blkid exits 2 when it finds no signature on the device.
  if (result.code === 2) return undefined;
  if (result.code !== 0) throw new Error(`blkid ${device} failed (exit ${result.code}): ${result.stderr.trim()}`);
  const fields = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const type = fields.get('TYPE');
  if (type === undefined) return undefined;
  return { type, uuid: fields.get('UUID'), label: fields.get('LABEL') };
}

/** The device mounted at `mountPoint` (from /proc/mounts), if any. */
export function mountedDevice(mountPoint: string, mountsFile = '/proc/mounts'): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountsFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [device, target] = line.split(' ');
    if (target?.replace(/\\040/g, ' ') === mountPoint) return device;
  }
  return undefined;
}
