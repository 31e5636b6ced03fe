/**
 * The topic layout, all under one versioned prefix so a future protocol can live beside this one:
 *   corral/v1/guest/{id}/rpc        control plane → guest (calls, casts, replies to the guest's calls)
 *   corral/v1/guest/{id}/reply      guest → control plane (replies to calls)
 *   corral/v1/guest/{id}/conductor  guest → control plane (heartbeats, reports)
 *   corral/v1/guest/{id}/state      guest's retained birth and last will
 */
import * as z from 'zod';

export const TOPIC_PREFIX = 'corral/v1';

/** Guest ids name topics and certificate CNs, so they may not hold MQTT wildcards, `/` or `.` (the `.` marks service identities). */
export const GUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export const GuestIdSchema = z
  .string()
  .regex(GUEST_ID_PATTERN, 'guest id: 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit');

export const guestChannels = ['rpc', 'reply', 'conductor', 'state'] as const;
export type GuestChannel = (typeof guestChannels)[number];

export function guestTopic(guestId: string, channel: GuestChannel): string {
  return `${TOPIC_PREFIX}/guest/${GuestIdSchema.parse(guestId)}/${channel}`;
}

export const rpcTopic = (guestId: string) => guestTopic(guestId, 'rpc');
export const replyTopic = (guestId: string) => guestTopic(guestId, 'reply');
export const conductorTopic = (guestId: string) => guestTopic(guestId, 'conductor');
export const stateTopic = (guestId: string) => guestTopic(guestId, 'state');

/** Wildcard filter over one channel of every guest (the control plane's subscriptions). */
export function allGuestsTopic(channel: GuestChannel): string {
  return `${TOPIC_PREFIX}/guest/+/${channel}`;
}

/**
 * A shared subscription (MQTT 5 `$share/`, also honoured by mosquitto for 3.1.1 clients) so several
 * control-plane processes split one filter. aedes has no shared subscriptions: callers fall back to the plain
 * filter there (see `transport.handle`'s `share` option).
 */
export function sharedTopic(group: string, filter: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(group)) throw new Error(`share group: letters, digits, _ and - only (got "${group}")`);
  return `$share/${group}/${filter}`;
}

export interface ParsedGuestTopic {
  guestId: string;
  channel: GuestChannel;
}

/** Splits a concrete topic of the guest subtree; undefined for anything else. */
export function parseGuestTopic(topic: string): ParsedGuestTopic | undefined {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_PREFIX || parts[2] !== 'guest') return undefined;
  const guestId = parts[3]!;
  const channel = parts[4]! as GuestChannel;
  if (!GUEST_ID_PATTERN.test(guestId) || !guestChannels.includes(channel)) return undefined;
  return { guestId, channel };
}

/** MQTT topic-filter matching (`+` one level, `#` the rest), for routing messages to handlers. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Strips a `$share/group/` prefix: the filter messages are actually matched against. */
export function unshareFilter(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  return filter.split('/').slice(2).join('/');
}
