import type { StatusEventBus } from '../../instance/events.js';
import type { Bootstrap, Provider, ServerStatus } from '../../provider/types.js';

/**
 * What the flows need from the rest of the control plane. Each is a narrow port that `control-plane.ts`
 * fills from the real store, PKI, messaging and providers; tests can fill them with fakes.
 */

/** The fields of an instance record a flow reads. */
export interface FlowInstance {
  id: string;
  name: string;
  provider: string;
  flavor: string;
  image: string;
  volumeSizeGb?: number;
  datastore: { manager: string; version: string };
  configuration: Record<string, unknown>;
  serverId?: string | null;
}

/** A guest's service status as the conductor last wrote it, with the (bootId, seq) it came with. */
export interface ServiceStatusMark {
  status: string;
  bootId?: string | null;
  seq?: number | null;
}

export interface InstancePort {
  get(id: string): Promise<FlowInstance | undefined>;
  update(
    id: string,
    patch: {
      serverId?: string | null;
      serverStatus?: ServerStatus | null;
      certificateSerial?: string | null;
      flavor?: string;
    },
  ): Promise<void>;
  serviceStatus(id: string): Promise<ServiceStatusMark | undefined>;
  /** Marks the instance deleted (its records kept for audit, its status DELETED). */
  markDeleted(id: string): Promise<void>;
}

/** A guest's identity, issued for its bootstrap. The key never leaves the worker's memory and the user-data. */
export interface GuestIdentity {
  certPem: string;
  keyPem: string;
  caPem: string;
  serial: string;
}

export interface IdentityPort {
  /** Issues a guest certificate for the instance's guest and records its serial (with the instance id). */
  issue(instanceId: string): Promise<GuestIdentity>;
  /** Revokes every unrevoked certificate of the instance's guest; none left is fine. Returns the serials revoked. */
  revokeAll(instanceId: string, reason: string): Promise<string[]>;
}

export interface GuestPort {
  /** Fire and forget (QoS 1); the guest dedupes by `requestId`. */
  cast(instanceId: string, method: string, params: unknown, requestId: string): Promise<void>;
  /** Clears the guest's retained state (birth/death) topic, so a deleted guest leaves nothing in the broker. */
  clearState?(instanceId: string): Promise<void>;
  /** Request and reply with a deadline. */
  call(
    instanceId: string,
    method: string,
    params: unknown,
    options: { timeoutMs: number; requestId: string },
  ): Promise<unknown>;
}

/** Guest presence from the retained birth / will messages on the state topic. */
export interface PresencePort {
  /** Calls `listener` with each birth of the guest (at once if it is online now); returns the unsubscribe. */
  onBirth(instanceId: string, listener: (birth: { bootId: string }) => void): () => void;
}

export interface FlowTimeouts {
  /** From server creation to the guest reporting HEALTHY (Trove's usage_timeout). */
  buildMs: number;
  /** For a reboot, restart or resize to end HEALTHY again. */
  recoverMs: number;
  /** For a server to be gone after delete. */
  deleteMs: number;
  /** Guest calls (restart, stop, configuration). */
  guestCallMs: number;
  /** How often a provider without `watchServer` is asked about the server while waiting. */
  providerPollMs: number;
}

export interface FlowDeps {
  instances: InstancePort;
  provider(name: string): Provider;
  identity: IdentityPort;
  /** Builds the bootstrap that carries the agent's config (broker URL as the guest sees it, its identity). */
  bootstrap(instance: FlowInstance, identity: GuestIdentity): Bootstrap;
  guest: GuestPort;
  presence: PresencePort;
  events: StatusEventBus;
  timeouts: FlowTimeouts;
  /** Guest identities minted by this process, by task id: keys stay in memory, never in the task's row. */
  secrets: Map<string, { identity: GuestIdentity; bootstrap?: Bootstrap }>;
}
