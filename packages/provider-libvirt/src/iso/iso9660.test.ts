import { describe, expect, it } from 'vitest';
import { buildIso } from './iso9660.js';
import { buildNoCloudSeed } from './nocloud.js';

const text = (bytes: Uint8Array, at: number, length: number) =>
  Buffer.from(bytes.subarray(at, at + length)).toString('latin1');

describe('ISO 9660 writer', () => {
  const date = new Date('2026-01-02T03:04:05Z');
  const iso = buildNoCloudSeed({ instanceId: 'i-1', userData: '#cloud-config\nfoo: bar\n' }, date);

  it('is padded to 300 KiB and says so in its volume space size, so label probes that read 68 KiB find it', () => {
    // busybox findfs (the guest's seed search) refused the unpadded 54 KiB seed: its probe read came up short.
    expect(iso.byteLength).toBeGreaterThanOrEqual(150 * 2048);
    expect(new DataView(iso.buffer, iso.byteOffset).getUint32(16 * 2048 + 80, true)).toBe(iso.byteLength / 2048);
  });

  it('writes a primary and a Joliet descriptor labelled cidata, and a terminator', () => {
    expect(iso.byteLength % 2048).toBe(0);
    expect(iso[16 * 2048]).toBe(1);
    expect(text(iso, 16 * 2048 + 1, 5)).toBe('CD001');
    expect(text(iso, 16 * 2048 + 40, 32).trim()).toBe('cidata');
    expect(iso[17 * 2048]).toBe(2);
    expect(Buffer.from(iso.subarray(17 * 2048 + 88, 17 * 2048 + 91))).toEqual(Buffer.from([0x25, 0x2f, 0x45]));
    expect(
      Buffer.from(iso.subarray(17 * 2048 + 40, 17 * 2048 + 52))
        .swap16()
        .toString('utf16le'),
    ).toBe('cidata');
    expect(iso[18 * 2048]).toBe(255);
  });

  it('stores meta-data and user-data under their real names (Joliet) with their contents', () => {
    const joliet = Buffer.from(iso.subarray(24 * 2048, 25 * 2048));
    const utf16 = (name: string) => Buffer.from(name, 'utf16le').swap16();
    expect(joliet.includes(utf16('meta-data'))).toBe(true);
    expect(joliet.includes(utf16('user-data'))).toBe(true);
    const all = Buffer.from(iso).toString('latin1');
    expect(all).toContain('instance-id: "i-1"');
    expect(all).toContain('#cloud-config\nfoo: bar\n');
  });

  it('is reproducible for a fixed date', () => {
    expect(buildNoCloudSeed({ instanceId: 'i-1', userData: '#cloud-config\nfoo: bar\n' }, date)).toEqual(iso);
  });

  it('names the broken rule for bad input', () => {
    expect(() => buildIso({ volumeId: '', files: [] })).toThrow(/volumeId/);
    expect(() => buildIso({ volumeId: 'x', files: [{ name: 'a/b', data: new Uint8Array() }] })).toThrow(/files/);
  });
});
