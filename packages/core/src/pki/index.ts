export { type CertificateAuthority, type CreateCaOptions, createCa, loadCa, loadOrCreateCa } from './ca.js';
export { buildCertificate, type CertificateProfile, parseCertificatePem } from './certificate.js';
export {
  CRL_VALIDITY_DAYS,
  createCrlPem,
  crlNextUpdate,
  RevocationList,
  type RevokedEntry,
  type RevokeListener,
} from './crl.js';
export { createKeyAndCsr, InvalidCsrError, type InvalidCsrReason, verifyCsr } from './csr.js';
export { type CertificateSummary, describeCertificate } from './inspect.js';
export {
  BACKDATE_MS,
  DEFAULT_BROKER_DNS_SANS,
  DEFAULT_BROKER_IP_SANS,
  type IssuedCertificate,
  type IssuedKeyAndCertificate,
  issueGuestCertificate,
  issueServerCertificate,
  issueServiceCertificate,
  type ServerCertificateOptions,
  signGuestCsr,
  type ValidityOptions,
} from './issue.js';
export { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem } from './keys.js';
export { normalizeSerial, type SubjectName } from './names.js';
export { fromPem, type PemLabel, toPem } from './pem.js';
