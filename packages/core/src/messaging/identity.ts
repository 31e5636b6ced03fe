/**
 * Who a client is, from the CN of its certificate, and what the ACL allows it. The CN doubles as the MQTT
 * username on mosquitto (`use_identity_as_username`), so ACL patterns like `corral/v1/guest/%u/reply` work:
 *   - a guest's CN is its guest id (OU `guest`);
 *   - a service's CN is `service.<name>` (OU `service`), one per control-plane process. A guest id may not
 *     contain `.`, so no guest can ever be issued a service's name.
 * The same rules are enforced by the aedes hooks (broker.ts) and the generated mosquitto ACL (mosquitto-config.ts).
 */
import * as z from 'zod';
import { GUEST_ID_PATTERN, guestTopic, parseGuestTopic, TOPIC_PREFIX } from './topics.js';

export const SERVICE_CN_PREFIX = 'service.';
export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export const ServiceNameSchema = z
  .string()
  .regex(SERVICE_NAME_PATTERN, 'service name: 1-63 characters of A-Z a-z 0-9 _ -, starting with a letter or digit');

export type Identity = { role: 'guest'; guestId: string; cn: string } | { role: 'service'; name: string; cn: string };

export function guestIdentity(guestId: string): Identity {
  if (!GUEST_ID_PATTERN.test(guestId)) {
    throw new Error(`guest id "${guestId}": 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit`);
  }
  return { role: 'guest', guestId, cn: guestId };
}

export function serviceIdentity(name: string): Identity {
  ServiceNameSchema.parse(name);
  return { role: 'service', name, cn: `${SERVICE_CN_PREFIX}${name}` };
}

/** The identity a certificate's CN names, or undefined when the CN fits neither form. */
export function identityFromCommonName(cn: string): Identity | undefined {
  if (cn.startsWith(SERVICE_CN_PREFIX)) {
    const name = cn.slice(SERVICE_CN_PREFIX.length);
    return SERVICE_NAME_PATTERN.test(name) ? { role: 'service', name, cn } : undefined;
  }
  return GUEST_ID_PATTERN.test(cn) ? { role: 'guest', guestId: cn, cn } : undefined;
}

/** The sender id an identity puts in its envelopes (its CN). */
export const senderId = (identity: Identity) => identity.cn;

function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

/** May this identity publish to this (concrete) topic? */
export function canPublish(identity: Identity, topic: string): boolean {
  if (hasWildcard(topic) || topic.startsWith('$')) return false;
  if (identity.role === 'service') return topic.startsWith(`${TOPIC_PREFIX}/`);
  const parsed = parseGuestTopic(topic);
  return (
    parsed !== undefined &&
    parsed.guestId === identity.guestId &&
    (parsed.channel === 'reply' || parsed.channel === 'conductor' || parsed.channel === 'state')
  );
}

/** A guest's retained message (its birth or death) is small; nothing else of a guest's is kept by the broker. */
export const MAX_GUEST_RETAINED_BYTES = 16 * 1024;

/** May this identity leave a retained message of this size on this topic? Guests: only on their own state topic. */
export function canRetain(identity: Identity, topic: string, bytes: number): boolean {
  if (identity.role === 'service') return true;
  return topic === guestTopic(identity.guestId, 'state') && bytes <= MAX_GUEST_RETAINED_BYTES;
}

/** May this identity subscribe to this filter? Guests: only their own rpc topic, exactly. */
export function canSubscribe(identity: Identity, filter: string): boolean {
  if (identity.role === 'guest') return filter === guestTopic(identity.guestId, 'rpc');
  let f = filter;
  if (f.startsWith('$share/')) {
    const parts = f.split('/');
    if (parts.length < 3 || !parts[1]) return false;
    f = parts.slice(2).join('/');
  }
  return f === `${TOPIC_PREFIX}/#` || f.startsWith(`${TOPIC_PREFIX}/`);
}
