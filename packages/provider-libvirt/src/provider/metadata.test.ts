import { describe, expect, it } from 'vitest';
import { buildDomainXml, resizeDomainXml } from './domain-xml.js';
import { recordFromXml, recordToXml, type ServerRecord } from './metadata.js';

const record: ServerRecord = {
  name: 'db-1',
  idempotencyKey: 'task <1> & "quoted"',
  flavor: 'corral.micro',
  image: 'micro',
  createdAt: '2026-01-01T00:00:00.000Z',
  volumes: ['corral-db-1-seed.iso'],
  metadata: { 'instance-id': 'abc', empty: '' },
  fault: { message: 'boom <here>', code: 1 },
};

describe('server metadata', () => {
  it('round-trips through XML, escaping included', () => {
    expect(recordFromXml(recordToXml(record))).toEqual(record);
  });

  it('reads libvirt re-serialised XML (other prefix, self-closing empty elements)', () => {
    const xml = recordToXml(record)
      .replace(/corral:/g, 'c:')
      .replace('<c:meta key="empty"></c:meta>', '<c:meta key="empty"/>');
    expect(recordFromXml(xml)).toEqual(record);
  });

  it('is not ours without name and key', () => {
    expect(recordFromXml('<x:server xmlns:x="y"/>')).toBeUndefined();
  });
});

describe('domain XML', () => {
  const xml = buildDomainXml({
    name: 'corral-db-1-abc',
    type: 'qemu',
    vcpus: 1,
    ramMb: 256,
    record,
    pool: 'corral',
    boot: { kind: 'kernel', kernelPath: '/p/k', initrdPath: '/p/i', cmdline: 'console=ttyS0' },
    seedVolume: 'corral-db-1-abc-seed.iso',
    cdromBus: 'scsi',
    consoleLogPath: '/var/log/corral/console/corral-db-1-abc.log',
  });

  it('uses user-mode networking only, ACPI on, direct kernel boot and a cdrom seed', () => {
    expect(xml).toContain("<interface type='user'><model type='virtio'/></interface>");
    expect(xml).not.toMatch(/type='(bridge|network|direct)'/);
    expect(xml).toContain('<acpi/>');
    expect(xml).toContain('<kernel>/p/k</kernel><initrd>/p/i</initrd><cmdline>console=ttyS0</cmdline>');
    expect(xml).toMatch(/device='cdrom'.*volume='corral-db-1-abc-seed.iso'/);
  });

  it('resizes memory and vcpus in place', () => {
    const resized = resizeDomainXml(
      "<memory unit='KiB'>262144</memory><currentMemory unit='KiB'>262144</currentMemory><vcpu placement='static'>1</vcpu>",
      2,
      1024,
    );
    expect(resized).toBe(
      "<memory unit='MiB'>1024</memory><currentMemory unit='MiB'>1024</currentMemory><vcpu placement='static'>2</vcpu>",
    );
  });
});
