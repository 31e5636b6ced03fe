import * as z from 'zod';

/**
 * The provider interface, version 1. A provider boots and manages servers on one backend (libvirt, Nova).
 * The interface is versioned like the Vercel AI SDK's: `specificationVersion` lets core accept older
 * providers while the interface grows; a caller narrows on it as a discriminated union.
 */
export const PROVIDER_SPECIFICATION_VERSION = 'v1' as const;

/** Server statuses, Nova's vocabulary; libvirt maps its domain states onto it. */
export const serverStatuses = [
  'BUILD',
  'ACTIVE',
  'REBOOT',
  'HARD_REBOOT',
  'RESIZE',
  'VERIFY_RESIZE',
  'SHUTOFF',
  'PAUSED',
  'SUSPENDED',
  'ERROR',
  'DELETED',
  'UNKNOWN',
] as const;
export const ServerStatus = z.enum(serverStatuses);
export type ServerStatus = z.infer<typeof ServerStatus>;

export const ServerFaultSchema = z.object({
  message: z.string(),
  code: z.union([z.number(), z.string()]).optional(),
  details: z.string().optional(),
});

/**
 * What the guest needs to find its way home: carried verbatim to the guest as cloud-init user-data
 * (a NoCloud seed ISO on libvirt, `user_data` or a config drive on Nova). It may hold secrets
 * (a private key, an enrolment token): providers must never log it.
 */
export const BootstrapSchema = z.object({
  /** The user-data document, as text. */
  userData: z.string().max(4 * 1024 * 1024, 'user-data is limited to 4 MiB'),
  /** Prefer a config drive over a metadata service where the backend has the choice. */
  configDrive: z.boolean().default(true),
});
export type Bootstrap = z.input<typeof BootstrapSchema>;

const nameRule = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;

export const CreateServerRequestSchema = z.object({
  /** A DNS-label-like name: letters, digits, dot, dash and underscore, at most 63 characters. */
  name: z.string().regex(nameRule, 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  /**
   * Makes create safe to retry: a provider that already made a server for this key returns it instead
   * of making a second. The task manager passes the task id.
   */
  idempotencyKey: z.string().min(1).max(128),
  /** A flavor id or name known to the provider (`listFlavors`). */
  flavor: z.string().min(1),
  /** An image id or name known to the provider (`listImages`). */
  image: z.string().min(1),
  bootstrap: BootstrapSchema,
  /** Size of an extra data volume, in GiB; none when absent. */
  volumeSizeGb: z.number().int().positive().max(16_384).optional(),
  /** Free-form labels kept with the server (string values; providers may cap the count). */
  metadata: z.record(z.string().max(255), z.string().max(255)).default({}),
  /** Provider-specific network choice (a Nova network id; ignored by libvirt's user-mode networking). */
  network: z.string().optional(),
});
export type CreateServerRequest = z.input<typeof CreateServerRequestSchema>;
export type ParsedCreateServerRequest = z.output<typeof CreateServerRequestSchema>;

/**
 * A data volume attached to a server: the provider's id for it, and the serial the guest sees on the disk
 * (libvirt's `<serial>`; Nova passes the Cinder volume id, of which virtio keeps 20 bytes). The agent finds
 * the disk by that serial, never by its position.
 */
export const ServerVolumeSchema = z.object({
  id: z.string(),
  serial: z.string(),
  sizeGb: z.number().int().positive().optional(),
});
export type ServerVolume = z.output<typeof ServerVolumeSchema>;

export const ServerSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: ServerStatus,
  /** Set when status is ERROR: why, in the backend's own words. */
  fault: ServerFaultSchema.optional(),
  idempotencyKey: z.string().optional(),
  flavor: z.string().optional(),
  image: z.string().optional(),
  /** Addresses by network name. */
  addresses: z.record(z.string(), z.array(z.string())).default({}),
  metadata: z.record(z.string(), z.string()).default({}),
  createdAt: z.string().optional(),
  /** Data volumes attached to it (not the root disk or a config drive). */
  volumes: z.array(ServerVolumeSchema).optional(),
});
export type Server = z.output<typeof ServerSchema>;

/**
 * A hint from `watchServers`: this server may have changed. Only a hint: read the server (`getServer`) for the
 * truth. `event` is what the backend said happened (`stopped`, `started`, `undefined`…), for logs.
 */
export const ServerChangeHintSchema = z.object({
  serverId: z.string(),
  event: z.string().optional(),
});
export type ServerChangeHint = z.infer<typeof ServerChangeHintSchema>;

export const FlavorSchema = z.object({
  id: z.string(),
  name: z.string(),
  vcpus: z.number().int().positive(),
  ramMb: z.number().int().positive(),
  diskGb: z.number().int().nonnegative(),
});
export type Flavor = z.output<typeof FlavorSchema>;

export const ImageSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string().default('active'),
  sizeBytes: z.number().int().nonnegative().optional(),
});
export type Image = z.output<typeof ImageSchema>;

export interface ProviderCapabilities {
  reboot: boolean;
  resize: boolean;
  /** Bootstrap can travel on a config drive / seed ISO. */
  configDrive: boolean;
  /** Bootstrap can travel as metadata-service user-data. */
  userData: boolean;
  /** `watchServer`/`watchServers` are pushed by the backend (libvirt lifecycle events) instead of being polled. */
  events: boolean;
  /** `volumeSizeGb` is honoured. */
  volumes: boolean;
  /** `uploadImage` exists. */
  imageUpload: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface ProviderV1 {
  readonly specificationVersion: typeof PROVIDER_SPECIFICATION_VERSION;
  /** Short and stable: `libvirt`, `openstack`, `fake`. Used in errors and logs. */
  readonly name: string;
  readonly capabilities: ProviderCapabilities;

  /**
   * Starts building a server and returns it (usually in BUILD). Validates its input: a bad request is a
   * BadRequestError before anything is made. Called twice with one `idempotencyKey`, it returns the server
   * the first call made. If it fails part-way, it removes what it made.
   */
  createServer(request: CreateServerRequest, options?: CallOptions): Promise<Server>;
  /** Throws NotFoundError when there is no such server. */
  getServer(id: string, options?: CallOptions): Promise<Server>;
  /** The server made for this idempotency key, if any. */
  findServerByIdempotencyKey(key: string, options?: CallOptions): Promise<Server | undefined>;
  listServers(options?: CallOptions): Promise<Server[]>;
  /**
   * Deletes the server and everything the provider made for it (disks, seed ISOs, ports). Resolves once the
   * backend accepted the deletion; NotFoundError if there is no such server.
   */
  deleteServer(id: string, options?: CallOptions): Promise<void>;
  rebootServer(id: string, options?: CallOptions & { hard?: boolean }): Promise<void>;
  /** UnsupportedError unless `capabilities.resize`. */
  resizeServer(id: string, flavor: string, options?: CallOptions): Promise<void>;
  listFlavors(options?: CallOptions): Promise<Flavor[]>;
  listImages(options?: CallOptions): Promise<Image[]>;
  /**
   * Yields the server each time it changes, starting with its current state, until the signal aborts.
   * Event-driven where `capabilities.events`, polled otherwise. Ends after a DELETED state.
   */
  watchServer?(id: string, options: CallOptions & { intervalMs?: number }): AsyncIterable<Server>;
  /**
   * Yields a hint each time any of this provider's servers may have changed (libvirt lifecycle events), until
   * the signal aborts. Best effort: hints are lost while a connection is down, so callers poll as well (core's
   * server watcher does). Throws when the stream cannot be opened; the caller opens it again later.
   */
  watchServers?(options: CallOptions): AsyncIterable<ServerChangeHint>;
  /** Releases connections. */
  close?(): Promise<void>;
}

/** Every provider version core understands. Narrow on `specificationVersion`. */
export type Provider = ProviderV1;
