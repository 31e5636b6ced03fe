import { describe, expect, it } from 'vitest';
import { guestIdentity } from './identity.js';
import { createMqttTransport } from './transport.js';

const base = { ca: 'x', cert: 'x', key: 'x', identity: guestIdentity('g1') };

describe('transport options', () => {
  it('names the field and the rule of a bad option', () => {
    expect(() => createMqttTransport({ ...base, url: 'http://127.0.0.1:80' })).toThrow(/url: mqtts:\/\/host:port/);
    expect(() => createMqttTransport({ ...base, url: 'mqtts://127.0.0.1:8883', outboxLimit: -1 })).toThrow(
      /outboxLimit/,
    );
  });
});
