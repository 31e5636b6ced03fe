/** Distinguished names and serial numbers, the small ASN.1 pieces every certificate needs. */
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AttributeTypeAndValue, RelativeDistinguishedNames } from 'pkijs';

export const OID = {
  commonName: '2.5.4.3',
  organizationalUnit: '2.5.4.11',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
} as const;

export interface SubjectName {
  commonName: string;
  organizationalUnit?: string;
  organization?: string;
}

export function buildName(name: SubjectName): RelativeDistinguishedNames {
  const rdn = new RelativeDistinguishedNames();
  const add = (type: string, value: string) =>
    rdn.typesAndValues.push(new AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) }));
  if (name.organization) add(OID.organization, name.organization);
  if (name.organizationalUnit) add(OID.organizationalUnit, name.organizationalUnit);
  add(OID.commonName, name.commonName);
  return rdn;
}

export function readName(rdn: RelativeDistinguishedNames): SubjectName {
  const get = (type: string) => {
    const value = rdn.typesAndValues.find((t) => t.type === type)?.value as { valueBlock?: { value?: unknown } };
    return typeof value?.valueBlock?.value === 'string' ? value.valueBlock.value : undefined;
  };
  return {
    commonName: get(OID.commonName) ?? '',
    organizationalUnit: get(OID.organizationalUnit),
    organization: get(OID.organization),
  };
}

/** 16 random bytes, first byte 0x01-0x7f: positive and without a leading zero byte. */
export function randomSerial(): Uint8Array {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! % 0x7f) + 1;
  return new Uint8Array(bytes);
}

/** Serial numbers are compared as upper-case hex without leading zeros (node's `getPeerCertificate()` form). */
export function normalizeSerial(serial: string): string {
  return serial
    .replace(/[:\s]/g, '')
    .toUpperCase()
    .replace(/^0+(?=.)/, '');
}

export function serialHex(bytes: ArrayBuffer | Uint8Array): string {
  return normalizeSerial(Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex'));
}

export function serialBytes(serial: string): Uint8Array {
  let hex = normalizeSerial(serial);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  // A set high bit would make the DER INTEGER negative.
  return new Uint8Array(bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}
