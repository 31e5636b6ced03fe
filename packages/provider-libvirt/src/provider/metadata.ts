import { escapeXml, unescapeXml } from '../api/xml.js';

/** Our namespace in the domain's <metadata>; the element marks a domain as made by corral. */
export const METADATA_NAMESPACE = 'https://corral.dev/xmlns/provider-libvirt/server/1';
export const METADATA_PREFIX = 'corral';

export interface ServerRecord {
  name: string;
  idempotencyKey: string;
  flavor: string;
  image: string;
  createdAt: string;
  /** Every volume made for this server, deleted with it. */
  volumes: string[];
  metadata: Record<string, string>;
  fault?: { message: string; code?: number };
}

/** The metadata element, as given to domain_set_metadata or inside <metadata> of a domain's XML. */
export function recordToXml(record: ServerRecord, withNamespace = true): string {
  const p = METADATA_PREFIX;
  const parts = [
    `<${p}:name>${escapeXml(record.name)}</${p}:name>`,
    `<${p}:idempotency-key>${escapeXml(record.idempotencyKey)}</${p}:idempotency-key>`,
    `<${p}:flavor>${escapeXml(record.flavor)}</${p}:flavor>`,
    `<${p}:image>${escapeXml(record.image)}</${p}:image>`,
    `<${p}:created-at>${escapeXml(record.createdAt)}</${p}:created-at>`,
    ...record.volumes.map((volume) => `<${p}:volume>${escapeXml(volume)}</${p}:volume>`),
    ...Object.entries(record.metadata).map(
      ([key, value]) => `<${p}:meta key="${escapeXml(key)}">${escapeXml(value)}</${p}:meta>`,
    ),
  ];
  if (record.fault) {
    const code = record.fault.code === undefined ? '' : ` code="${record.fault.code}"`;
    parts.push(`<${p}:fault${code}>${escapeXml(record.fault.message)}</${p}:fault>`);
  }
  const ns = withNamespace ? ` xmlns:${p}="${METADATA_NAMESPACE}"` : '';
  return `<${p}:server${ns}>${parts.join('')}</${p}:server>`;
}

/**
 * Reads the element back. libvirt returns it re-serialised (its own prefix, maybe self-closing empty
 * elements), so the parser matches on local names and tolerates any prefix.
 */
export function recordFromXml(xml: string): ServerRecord | undefined {
  const all = (local: string) =>
    [
      ...xml.matchAll(
        new RegExp(
          `<(?:[\\w-]+:)?${local}((?:\\s+[\\w:-]+="[^"]*")*)\\s*(?:/>|>([\\s\\S]*?)</(?:[\\w-]+:)?${local}>)`,
          'g',
        ),
      ),
    ].map((m) => ({ attributes: m[1] ?? '', text: unescapeXml(m[2] ?? '') }));
  const one = (local: string) => all(local)[0]?.text;
  const name = one('name');
  const idempotencyKey = one('idempotency-key');
  if (name === undefined || idempotencyKey === undefined) return undefined;
  const attribute = (attributes: string, key: string) => {
    const found = new RegExp(`${key}="([^"]*)"`).exec(attributes)?.[1];
    return found === undefined ? undefined : unescapeXml(found);
  };
  const metadata: Record<string, string> = {};
  for (const meta of all('meta')) {
    const key = attribute(meta.attributes, 'key');
    if (key !== undefined) metadata[key] = meta.text;
  }
  const faultEntry = all('fault')[0];
  const faultCode = faultEntry ? attribute(faultEntry.attributes, 'code') : undefined;
  return {
    name,
    idempotencyKey,
    flavor: one('flavor') ?? '',
    image: one('image') ?? '',
    createdAt: one('created-at') ?? '',
    volumes: all('volume').map((v) => v.text),
    metadata,
    fault: faultEntry ? { message: faultEntry.text, code: faultCode ? Number(faultCode) : undefined } : undefined,
  };
}
