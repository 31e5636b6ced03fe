import { stateTopic } from '../messaging/topics.js';
import type { MqttTransport } from '../messaging/transport.js';
import type { GuestPort } from '../taskmanager/tasks/deps.js';

/**
 * The control plane's client of a guest agent (Trove's `guestagent/api.py`): casts (fire and forget, QoS 1)
 * and calls (request, reply, deadline) to `corral/v1/guest/{id}/rpc`. The request id rides in the args as
 * `requestId`, so a guest that gets a message twice (QoS 1, or a resumed task casting again) acts once.
 */
export class GuestApi implements GuestPort {
  constructor(private readonly transport: MqttTransport) {}

  async cast(guestId: string, method: string, params: unknown, requestId: string): Promise<void> {
    await this.transport.cast(guestId, method, withRequestId(params, requestId));
  }

  call(
    guestId: string,
    method: string,
    params: unknown,
    options: { timeoutMs: number; requestId: string; signal?: AbortSignal },
  ): Promise<unknown> {
    return this.transport.call(guestId, method, withRequestId(params, options.requestId), {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    });
  }

  async clearState(guestId: string): Promise<void> {
    // An empty retained message deletes the retained one (MQTT 3.1.1 §3.3.1.3).
    await this.transport.publishRaw(stateTopic(guestId), Buffer.alloc(0), { retain: true });
  }

  prepare(guestId: string, params: unknown, requestId: string): Promise<void> {
    return this.cast(guestId, 'prepare', params, requestId);
  }

  restart(guestId: string, requestId: string, timeoutMs: number): Promise<unknown> {
    return this.call(guestId, 'restart', {}, { timeoutMs, requestId });
  }
}

function withRequestId(params: unknown, requestId: string): Record<string, unknown> {
  const base = typeof params === 'object' && params !== null && !Array.isArray(params) ? params : { value: params };
  return { ...(base as Record<string, unknown>), requestId };
}
