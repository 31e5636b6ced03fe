import { escapeXml } from '../api/xml.js';
import { recordToXml, type ServerRecord } from './metadata.js';

export interface DomainSpec {
  name: string;
  type: 'kvm' | 'qemu';
  vcpus: number;
  ramMb: number;
  machine?: string;
  record: ServerRecord;
  pool: string;
  boot: { kind: 'kernel'; kernelPath: string; initrdPath: string; cmdline: string } | { kind: 'disk'; volume: string };
  seedVolume: string;
  dataVolume?: string;
  /** The data disk's `<serial>`: how the guest agent finds it (virtio keeps 20 bytes). */
  dataSerial?: string;
  cdromBus: 'scsi' | 'sata' | 'ide';
  consoleLogPath: string;
}

/**
 * The domain's XML. Networking is QEMU user-mode only: the guest sees the host's loopback as 10.0.2.2 and
 * nothing is bridged or routed. ACPI is on so the guest can power itself off (and take a clean shutdown).
 */
export function buildDomainXml(spec: DomainSpec): string {
  const machine = spec.machine ?? (spec.cdromBus === 'sata' ? 'q35' : 'pc');
  const os =
    spec.boot.kind === 'kernel'
      ? `<kernel>${escapeXml(spec.boot.kernelPath)}</kernel><initrd>${escapeXml(spec.boot.initrdPath)}</initrd>` +
        `<cmdline>${escapeXml(spec.boot.cmdline)}</cmdline>`
      : `<boot dev='hd'/>`;
  const disks: string[] = [];
  if (spec.boot.kind === 'disk') {
    disks.push(
      `<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>` +
        `<source pool='${escapeXml(spec.pool)}' volume='${escapeXml(spec.boot.volume)}'/><target dev='vda' bus='virtio'/></disk>`,
    );
  }
  if (spec.dataVolume) {
    disks.push(
      `<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>` +
        `<source pool='${escapeXml(spec.pool)}' volume='${escapeXml(spec.dataVolume)}'/><target dev='vdb' bus='virtio'/>` +
        (spec.dataSerial ? `<serial>${escapeXml(spec.dataSerial)}</serial>` : '') +
        `</disk>`,
    );
  }
  const cdromTarget = { scsi: "dev='sda' bus='scsi'", sata: "dev='sda' bus='sata'", ide: "dev='hdc' bus='ide'" }[
    spec.cdromBus
  ];
  disks.push(
    `<disk type='volume' device='cdrom'><driver name='qemu' type='raw'/>` +
      `<source pool='${escapeXml(spec.pool)}' volume='${escapeXml(spec.seedVolume)}'/><target ${cdromTarget}/><readonly/></disk>`,
  );
  const controllers = spec.cdromBus === 'scsi' ? `<controller type='scsi' index='0' model='virtio-scsi'/>` : '';
  return [
    `<domain type='${spec.type}'>`,
    `<name>${escapeXml(spec.name)}</name>`,
    `<metadata>${recordToXml(spec.record)}</metadata>`,
    `<memory unit='MiB'>${spec.ramMb}</memory><currentMemory unit='MiB'>${spec.ramMb}</currentMemory>`,
    `<vcpu placement='static'>${spec.vcpus}</vcpu>`,
    `<os><type arch='x86_64' machine='${escapeXml(machine)}'>hvm</type>${os}</os>`,
    `<features><acpi/><apic/></features>`,
    spec.type === 'kvm' ? `<cpu mode='host-passthrough'/>` : '',
    `<clock offset='utc'/>`,
    `<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>`,
    `<devices>`,
    controllers,
    ...disks,
    `<interface type='user'><model type='virtio'/></interface>`,
    `<serial type='file'><source path='${escapeXml(spec.consoleLogPath)}' append='on'/><target port='0'/></serial>`,
    `<console type='file'><source path='${escapeXml(spec.consoleLogPath)}' append='on'/><target type='serial' port='0'/></console>`,
    `<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>`,
    `<memballoon model='none'/>`,
    `</devices>`,
    `</domain>`,
  ].join('');
}

/** Sets memory and vCPUs in a persistent definition (resize), leaving everything else as libvirt wrote it. */
export function resizeDomainXml(xml: string, vcpus: number, ramMb: number): string {
  return xml
    .replace(/<memory[^>]*>\d+<\/memory>/, `<memory unit='MiB'>${ramMb}</memory>`)
    .replace(/<currentMemory[^>]*>\d+<\/currentMemory>/, `<currentMemory unit='MiB'>${ramMb}</currentMemory>`)
    .replace(/<vcpu([^>]*)>\d+<\/vcpu>/, `<vcpu$1>${vcpus}</vcpu>`);
}
