import { buildIso } from './iso9660.js';

export interface NoCloudSeed {
  /** cloud-init's instance-id: a new id makes cloud-init treat the boot as a first boot. */
  instanceId: string;
  hostname?: string;
  userData: string;
  /** Optional network-config (v1/v2 YAML). */
  networkConfig?: string;
}

/** A NoCloud seed ISO: label `cidata`, files `meta-data` and `user-data` (and `network-config`). */
export function buildNoCloudSeed(seed: NoCloudSeed, date?: Date): Uint8Array {
  const encoder = new TextEncoder();
  // JSON is valid YAML, and quoting this way cannot be broken by odd characters in the ids.
  const metaData =
    `instance-id: ${JSON.stringify(seed.instanceId)}\n` +
    (seed.hostname ? `local-hostname: ${JSON.stringify(seed.hostname)}\n` : '');
  const files = [
    { name: 'meta-data', data: encoder.encode(metaData) },
    { name: 'user-data', data: encoder.encode(seed.userData) },
  ];
  if (seed.networkConfig) files.push({ name: 'network-config', data: encoder.encode(seed.networkConfig) });
  return buildIso({ volumeId: 'cidata', files, date });
}
