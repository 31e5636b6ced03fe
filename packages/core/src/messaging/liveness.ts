/**
 * Liveness on the retained state topic: a guest publishes a retained `birth` with its boot id on every
 * connect and registers a retained last will `death` with the same boot id. A will is published by the
 * broker, possibly late (keepalive expiry, session takeover), so a death whose boot id is not the current
 * birth's belongs to an older boot and is ignored.
 */
import * as z from 'zod';

export const StateMessageSchema = z.object({
  v: z.literal(1),
  state: z.enum(['birth', 'death']),
  guestId: z.string().min(1).max(200),
  bootId: z.string().min(1).max(128),
  /** Sender's clock; informational only. */
  at: z.number().int().nonnegative(),
});
export type StateMessage = z.infer<typeof StateMessageSchema>;

export interface LivenessView {
  alive: boolean;
  bootId: string;
}

export function birthMessage(guestId: string, bootId: string, at = Date.now()): StateMessage {
  return { v: 1, state: 'birth', guestId, bootId, at };
}

export function deathMessage(guestId: string, bootId: string, at = Date.now()): StateMessage {
  return { v: 1, state: 'death', guestId, bootId, at };
}

/**
 * Folds one state message into what is known. A birth always wins (a new boot); a death counts only when it
 * names the boot id of the current birth.
 */
export function applyStateMessage(current: LivenessView | undefined, message: StateMessage): LivenessView {
  if (message.state === 'birth') return { alive: true, bootId: message.bootId };
  if (current === undefined) return { alive: false, bootId: message.bootId };
  if (current.bootId !== message.bootId) return current;
  return { alive: false, bootId: message.bootId };
}

export function parseStateMessage(payload: Uint8Array): StateMessage | undefined {
  if (payload.byteLength > 4096) return undefined;
  try {
    const parsed = StateMessageSchema.safeParse(JSON.parse(Buffer.from(payload).toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
