import { describe, expect, it } from 'vitest';
import { peerCertificateOf } from './broker.js';

const subject = { CN: 'g1', OU: 'guest' };

describe('peer certificate of a connection (embedded broker)', () => {
  it('is the certificate of an authorized TLS socket', () => {
    const conn = { authorized: true, getPeerCertificate: () => ({ subject, serialNumber: '0A' }) };
    expect(peerCertificateOf(conn)?.subject).toEqual(subject);
  });

  it('is undefined for a socket closed before its CONNECT was authenticated (node answers null)', () => {
    expect(peerCertificateOf({ authorized: true, getPeerCertificate: () => null })).toBeUndefined();
    expect(peerCertificateOf({ authorized: true, getPeerCertificate: () => ({}) })).toBeUndefined();
  });

  it('is undefined without TLS or without an authorized certificate', () => {
    expect(peerCertificateOf({ write: () => true })).toBeUndefined();
    expect(peerCertificateOf(null)).toBeUndefined();
    expect(peerCertificateOf({ authorized: false, getPeerCertificate: () => ({ subject }) })).toBeUndefined();
  });
});
