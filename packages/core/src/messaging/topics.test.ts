import { describe, expect, it } from 'vitest';
import { canPublish, canSubscribe, guestIdentity, identityFromCommonName, serviceIdentity } from './identity.js';
import {
  allGuestsTopic,
  conductorTopic,
  parseGuestTopic,
  replyTopic,
  rpcTopic,
  sharedTopic,
  stateTopic,
  topicMatches,
  unshareFilter,
} from './topics.js';

describe('topics', () => {
  it('builds the versioned per-guest layout', () => {
    expect(rpcTopic('g1')).toBe('corral/v1/guest/g1/rpc');
    expect(replyTopic('g1')).toBe('corral/v1/guest/g1/reply');
    expect(conductorTopic('g1')).toBe('corral/v1/guest/g1/conductor');
    expect(stateTopic('g1')).toBe('corral/v1/guest/g1/state');
    expect(allGuestsTopic('conductor')).toBe('corral/v1/guest/+/conductor');
    expect(sharedTopic('conductor', allGuestsTopic('conductor'))).toBe('$share/conductor/corral/v1/guest/+/conductor');
  });

  it('refuses guest ids that would break the topic tree', () => {
    for (const bad of ['', 'a/b', '+', '#', 'a+b', 'service.x', '-lead', 'x'.repeat(129)]) {
      expect(() => rpcTopic(bad), bad).toThrow(/guest id/);
    }
  });

  it('parses guest topics and nothing else', () => {
    expect(parseGuestTopic('corral/v1/guest/g1/conductor')).toEqual({ guestId: 'g1', channel: 'conductor' });
    expect(parseGuestTopic('corral/v2/guest/g1/conductor')).toBeUndefined();
    expect(parseGuestTopic('corral/v1/guest/g1/other')).toBeUndefined();
    expect(parseGuestTopic('corral/v1/guest/g1/rpc/x')).toBeUndefined();
  });

  it('matches MQTT filters', () => {
    expect(topicMatches('corral/v1/guest/+/rpc', 'corral/v1/guest/g1/rpc')).toBe(true);
    expect(topicMatches('corral/v1/#', 'corral/v1/guest/g1/rpc')).toBe(true);
    expect(topicMatches('corral/v1/guest/+/rpc', 'corral/v1/guest/g1/reply')).toBe(false);
    expect(topicMatches('corral/v1/guest/+', 'corral/v1/guest/g1/rpc')).toBe(false);
    expect(unshareFilter('$share/grp/corral/v1/guest/+/conductor')).toBe('corral/v1/guest/+/conductor');
  });
});

describe('identity and ACL', () => {
  const a = guestIdentity('guest-a');
  const svc = serviceIdentity('conductor-1');

  it('maps certificate CNs to identities', () => {
    expect(identityFromCommonName('guest-a')).toEqual(a);
    expect(identityFromCommonName('service.conductor-1')).toEqual(svc);
    expect(identityFromCommonName('service.')).toBeUndefined();
    expect(identityFromCommonName('a/b')).toBeUndefined();
  });

  it('a guest publishes only to its own reply, conductor and state topics', () => {
    expect(canPublish(a, replyTopic('guest-a'))).toBe(true);
    expect(canPublish(a, conductorTopic('guest-a'))).toBe(true);
    expect(canPublish(a, stateTopic('guest-a'))).toBe(true);
    expect(canPublish(a, rpcTopic('guest-a'))).toBe(false);
    expect(canPublish(a, conductorTopic('guest-b'))).toBe(false);
    expect(canPublish(a, 'corral/v1/control')).toBe(false);
    expect(canPublish(a, '$SYS/x')).toBe(false);
  });

  it('a guest subscribes only to its own rpc topic, exactly', () => {
    expect(canSubscribe(a, rpcTopic('guest-a'))).toBe(true);
    expect(canSubscribe(a, rpcTopic('guest-b'))).toBe(false);
    expect(canSubscribe(a, 'corral/v1/guest/+/rpc')).toBe(false);
    expect(canSubscribe(a, '#')).toBe(false);
  });

  it('a service gets the control plane topics, shared or not, and nothing outside the prefix', () => {
    expect(canPublish(svc, rpcTopic('guest-a'))).toBe(true);
    expect(canSubscribe(svc, allGuestsTopic('conductor'))).toBe(true);
    expect(canSubscribe(svc, sharedTopic('c', allGuestsTopic('conductor')))).toBe(true);
    expect(canSubscribe(svc, '#')).toBe(false);
    expect(canPublish(svc, 'elsewhere/x')).toBe(false);
    expect(canPublish(svc, 'corral/v1/guest/+/rpc')).toBe(false);
  });
});
