/**
 * What a receiver knows about the methods it serves: a map of method name → zod schemas. The transport is
 * generic over it; the guest contract (core/src/guest/contract.ts) and the conductor messages plug in here.
 * Extra fields (timeout, kind…) are allowed and ignored by the transport.
 */
import type * as z from 'zod';
import type { CallEnvelope, CastEnvelope } from './envelope.js';

export interface MethodSpec {
  args: z.ZodType;
  result?: z.ZodType;
}

export type MethodRegistry = Record<string, MethodSpec>;

export interface MessageContext {
  topic: string;
  kind: 'call' | 'cast';
  method: string;
  /** The sender's identity CN, as stated in the envelope (checked against the topic for guest-published topics). */
  from: string;
  /** The guest the topic belongs to, when it is a guest topic. */
  guestId?: string;
  bootId: string;
  seq: number;
  messageId: string;
  envelope: CallEnvelope | CastEnvelope;
}

export type MethodHandler<S extends MethodSpec> = (
  args: z.infer<S['args']>,
  context: MessageContext,
) =>
  | (S['result'] extends z.ZodType ? z.infer<S['result']> : unknown)
  | Promise<S['result'] extends z.ZodType ? z.infer<S['result']> : unknown>;

export type MethodHandlers<R extends MethodRegistry> = { [K in keyof R]?: MethodHandler<R[K]> };

/** A handler's error with a stable code travels back to the caller as RemoteCallError.remoteCode. */
export class HandlerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HandlerError';
  }
}
