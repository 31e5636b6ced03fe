import { constants } from 'node:fs';
import { access, readFile, statfs } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { CRL_VALIDITY_DAYS, crlNextUpdate } from '@corral/core/pki';

/**
 * `corral doctor`: checks the host for what corral needs and prints the exact fix for each missing piece.
 * Every check is a small function of its inputs, so tests can point it at a host without libvirtd.
 */

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found. */
  detail: string;
  /** The command or step that fixes it; present when not ok. */
  fix?: string;
  /** A missing optional piece is a warning, not a failure. */
  optional?: boolean;
}

export interface DoctorOptions {
  libvirtSocket: string;
  kvmDevice: string;
  stateDir: string;
  /** Where to look for executables; defaults to $PATH. */
  path?: string;
  minFreeGiB: number;
  brokerUrl?: string;
  /** A CRL mosquitto serves (`<dir>/crl.pem` of startMosquitto): warn before it expires. */
  crlFile?: string;
  /** The clock (tests inject one). */
  now?: () => number;
}

export const defaultDoctorOptions: DoctorOptions = {
  libvirtSocket: '/var/run/libvirt/libvirt-sock',
  kvmDevice: '/dev/kvm',
  stateDir: '/var/lib/corral',
  minFreeGiB: 2,
};

async function findExecutable(name: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

function canConnect(options: { path: string } | { host: string; port: number }, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(options);
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

function checkNode(): DoctorCheck {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const ok = major > 20 || (major === 20 && minor >= 19);
  return {
    name: 'node',
    ok,
    detail: `Node.js ${process.versions.node}`,
    fix: ok ? undefined : 'install Node.js 20.19 or newer (https://nodejs.org or your distribution)',
  };
}

async function checkExecutable(name: string, pkg: string, path?: string, optional = false): Promise<DoctorCheck> {
  const found = await findExecutable(name, path);
  return {
    name,
    ok: found !== undefined,
    optional,
    detail: found ?? `${name} not found on PATH`,
    fix: found ? undefined : `apt-get install -y ${pkg}`,
  };
}

async function checkLibvirtd(socket: string): Promise<DoctorCheck> {
  const ok = await canConnect({ path: socket });
  return {
    name: 'libvirtd',
    ok,
    detail: ok ? `libvirtd answers on ${socket}` : `nothing listens on ${socket}`,
    fix: ok
      ? undefined
      : 'bash scripts/setup/40-libvirt.sh   (or: apt-get install -y libvirt-daemon-system qemu-system-x86 && virtlogd -d && libvirtd -d)',
  };
}

async function checkKvm(device: string): Promise<DoctorCheck> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return {
      name: 'kvm',
      ok: true,
      optional: true,
      detail: `${device} is present; the libvirt provider probes it and falls back to software emulation if it hangs`,
    };
  } catch {
    return {
      name: 'kvm',
      ok: false,
      optional: true,
      detail: `${device} is missing or not writable: VMs will run under QEMU software emulation (slower boots)`,
      fix: 'enable virtualisation in the firmware or nested virtualisation in the hypervisor, then `modprobe kvm_intel` or `modprobe kvm_amd`',
    };
  }
}

async function checkDisk(dir: string, minFreeGiB: number): Promise<DoctorCheck> {
  let probe = dir;
  for (;;) {
    try {
      const stats = await statfs(probe);
      const freeGiB = (stats.bavail * stats.bsize) / 2 ** 30;
      const ok = freeGiB >= minFreeGiB;
      return {
        name: 'disk',
        ok,
        detail: `${freeGiB.toFixed(1)} GiB free for ${dir}`,
        fix: ok ? undefined : `free at least ${minFreeGiB} GiB on the file system holding ${dir}`,
      };
    } catch {
      const parent = join(probe, '..');
      if (parent === probe) return { name: 'disk', ok: false, detail: `cannot stat ${dir}`, fix: `mkdir -p ${dir}` };
      probe = parent;
    }
  }
}

async function checkCertificates(stateDir: string): Promise<DoctorCheck> {
  const caPath = join(stateDir, 'pki', 'ca.pem');
  try {
    await access(caPath, constants.R_OK);
    return { name: 'certificates', ok: true, detail: `CA found at ${caPath}` };
  } catch {
    return {
      name: 'certificates',
      ok: false,
      optional: true,
      detail: `no CA at ${caPath} yet (corral up makes one on first start)`,
      fix: `corral pki init --dir ${join(stateDir, 'pki')}`,
    };
  }
}

async function checkBroker(url: string): Promise<DoctorCheck> {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === 'mqtts:' ? 8883 : 1883));
  const ok = await canConnect({ host: parsed.hostname, port });
  return {
    name: 'broker',
    ok,
    detail: ok
      ? `a broker accepts connections at ${parsed.host}`
      : `nothing accepts connections at ${parsed.hostname}:${port}`,
    fix: ok
      ? undefined
      : 'start one with `corral up` (embedded broker), or `bash scripts/setup/20-mosquitto.sh` for mosquitto',
  };
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * An expired CRL makes mosquitto refuse every client, the control plane's own included. A running control plane
 * re-issues it at half its validity, so less than a quarter left means nothing is refreshing it.
 */
export async function checkCrl(file: string, now = Date.now()): Promise<DoctorCheck> {
  const fix = 'start the control plane that serves this broker (it re-issues the CRL at half its validity)';
  let nextUpdate: Date | undefined;
  try {
    nextUpdate = crlNextUpdate(await readFile(file, 'utf8'));
  } catch (error) {
    return { name: 'crl', ok: false, detail: `cannot read a CRL at ${file}: ${(error as Error).message}`, fix };
  }
  if (nextUpdate === undefined) return { name: 'crl', ok: false, detail: `${file} has no nextUpdate`, fix };
  const left = nextUpdate.getTime() - now;
  const until = nextUpdate.toISOString();
  if (left <= 0)
    return { name: 'crl', ok: false, detail: `the CRL expired at ${until}: mosquitto refuses everyone`, fix };
  if (left < (CRL_VALIDITY_DAYS * DAY_MS) / 4) {
    return { name: 'crl', ok: false, optional: true, detail: `the CRL expires soon (${until})`, fix };
  }
  return { name: 'crl', ok: true, detail: `the CRL is valid until ${until}` };
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  return Promise.all([
    checkNode(),
    checkLibvirtd(options.libvirtSocket),
    checkExecutable('qemu-system-x86_64', 'qemu-system-x86', options.path),
    checkExecutable('qemu-img', 'qemu-utils', options.path),
    checkKvm(options.kvmDevice),
    checkCertificates(options.stateDir),
    checkDisk(options.stateDir, options.minFreeGiB),
    ...(options.brokerUrl ? [checkBroker(options.brokerUrl)] : []),
    ...(options.crlFile ? [checkCrl(options.crlFile, options.now?.())] : []),
  ]);
}

/** Required checks that failed; optional ones only warn. */
export function failedChecks(checks: DoctorCheck[]): DoctorCheck[] {
  return checks.filter((check) => !check.ok && !check.optional);
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const lines = checks.map((check) => {
    const mark = check.ok ? '✔' : check.optional ? '!' : '✖';
    const fix = check.fix && !check.ok ? `\n    fix: ${check.fix}` : '';
    return `${mark} ${check.name.padEnd(20)} ${check.detail}${fix}`;
  });
  const failed = failedChecks(checks).length;
  lines.push('', failed === 0 ? 'corral can run here.' : `${failed} required check(s) failed; apply the fixes above.`);
  return lines.join('\n');
}
