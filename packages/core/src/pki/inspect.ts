/** Reading certificates back: subject, serial and validity, e.g. to map a client certificate to an identity. */
import { parseCertificatePem } from './certificate.js';
import { readName, type SubjectName, serialHex } from './names.js';

export interface CertificateSummary {
  subject: SubjectName;
  issuer: SubjectName;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export function describeCertificate(pem: string | Buffer): CertificateSummary {
  const cert = parseCertificatePem(pem);
  return {
    subject: readName(cert.subject),
    issuer: readName(cert.issuer),
    serial: serialHex(cert.serialNumber.valueBlock.valueHexView),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
  };
}
