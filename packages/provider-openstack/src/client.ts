import type { Agent as HttpAgent } from 'node:http';
import { BadRequestError, describeIssues } from '@corral/core/contract';
import type { Got } from 'got';
import { PROVIDER_NAME } from './common/errors.js';
import { type RequestMetric, type RetryPolicy, ServiceClient, Transport } from './common/http.js';
import type { Logger } from './common/logger.js';
import { microversionHeaders, negotiateMicroversion } from './compute/microversion.js';
import { type AuthOptions, AuthOptionsSchema, type ResolvedAuthOptions } from './identity/auth-options.js';
import { canonicalServiceType, type EndpointInterface, type EndpointQuery, hasService } from './identity/catalog.js';
import { type CloudConfig, loadCloudConfig } from './identity/config.js';
import { AuthSession } from './identity/session.js';

export interface OpenStackClientOptions {
  /** A clouds.yaml cloud name (or OS_CLOUD / OS_* variables when neither `cloud` nor `auth` is given). */
  cloud?: string;
  /** Credentials in code; wins over clouds.yaml. */
  auth?: AuthOptions;
  /** Environment to read OS_* from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Directory searched first for clouds.yaml (default the working directory). */
  cwd?: string;
  region?: string;
  interface?: EndpointInterface;
  /** Service type (or alias) → URL, for clouds whose catalog is wrong or unreachable from here. */
  endpointOverrides?: Record<string, string>;
  /** The highest compute microversion to ask for (default 2.79); the cloud's maximum wins if lower. */
  computeMicroversion?: string;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
  agent?: HttpAgent;
  onRequest?: (metric: RequestMetric) => void;
  extendGot?: (instance: Got) => Got;
  /** Renew tokens this long before they expire (default 5 min). */
  refreshMarginMs?: number;
}

export const DEFAULT_COMPUTE_MICROVERSION = '2.79';

/** Resolves options to credentials + endpoint settings: explicit `auth`, else clouds.yaml / OS_* like openstacksdk. */
export function resolveClientConfig(options: OpenStackClientOptions): CloudConfig {
  if (options.auth) {
    const parsed = AuthOptionsSchema.safeParse(options.auth);
    if (!parsed.success)
      throw new BadRequestError(`openstack auth: ${describeIssues(parsed.error)}`, { provider: PROVIDER_NAME });
    return { name: 'inline', auth: parsed.data, interface: 'public', endpointOverrides: {} };
  }
  return loadCloudConfig({ cloud: options.cloud, env: options.env, cwd: options.cwd });
}

/**
 * One authenticated OpenStack connection: a shared token (single-flight re-auth), endpoints from the catalog,
 * and a ServiceClient per service, with Nova's microversion negotiated once from its version document.
 */
export class OpenStackClient {
  readonly config: CloudConfig;
  readonly transport: Transport;
  readonly session: AuthSession;
  private readonly endpointOverrides: Record<string, string>;
  private readonly endpointQuery: EndpointQuery;
  private readonly wantedComputeMicroversion: string;
  private computeClient?: Promise<ServiceClient>;
  /** The negotiated compute microversion, once `compute()` has run (undefined: no microversions). */
  computeMicroversion?: string;

  constructor(options: OpenStackClientOptions = {}) {
    this.config = resolveClientConfig(options);
    this.transport = new Transport({
      timeoutMs: options.timeoutMs,
      retry: options.retry,
      logger: options.logger,
      agent: options.agent,
      onRequest: options.onRequest,
      extendGot: options.extendGot,
    });
    this.endpointOverrides = {};
    for (const [type, url] of Object.entries({ ...this.config.endpointOverrides, ...options.endpointOverrides })) {
      this.endpointOverrides[canonicalServiceType(type)] = url;
    }
    this.endpointQuery = {
      interface: options.interface ?? this.config.interface,
      region: options.region ?? this.config.regionName,
      overrides: this.endpointOverrides,
    };
    this.session = new AuthSession(this.transport, this.config.auth, {
      refreshMarginMs: options.refreshMarginMs,
      endpoints: this.endpointQuery,
    });
    this.transport.tokens = this.session;
    this.wantedComputeMicroversion =
      options.computeMicroversion ?? this.config.computeApiVersion ?? DEFAULT_COMPUTE_MICROVERSION;
  }

  get auth(): ResolvedAuthOptions {
    return this.config.auth;
  }

  /** Nova, at the negotiated microversion; `microversion` asks for a specific one for a call site. */
  async compute(options: { microversion?: string; signal?: AbortSignal } = {}): Promise<ServiceClient> {
    this.computeClient ??= this.negotiateCompute(options.signal).catch((error: unknown) => {
      this.computeClient = undefined;
      throw error;
    });
    const client = await this.computeClient;
    return options.microversion ? client.withHeaders(microversionHeaders('compute', options.microversion)) : client;
  }

  image(signal?: AbortSignal): Promise<ServiceClient> {
    return this.service('image', signal);
  }
  network(signal?: AbortSignal): Promise<ServiceClient> {
    return this.service('network', signal);
  }
  blockStorage(signal?: AbortSignal): Promise<ServiceClient> {
    return this.service('block-storage', signal);
  }
  identity(): ServiceClient {
    return this.session.identityClient();
  }

  /** A ServiceClient for any catalog type (aliases accepted: volumev3 → block-storage). */
  async service(type: string, signal?: AbortSignal): Promise<ServiceClient> {
    const official = canonicalServiceType(type);
    return new ServiceClient(this.transport, official, await this.session.endpoint(official, signal));
  }

  /** Whether the catalog (or an override) has the service: Cinder is optional in many clouds. */
  async hasService(type: string, signal?: AbortSignal): Promise<boolean> {
    const token = await this.session.tokenDetails(signal);
    return hasService(token.catalog, type, this.endpointQuery);
  }

  private async negotiateCompute(signal?: AbortSignal): Promise<ServiceClient> {
    const bare = await this.service('compute', signal);
    this.computeMicroversion = await negotiateMicroversion(bare, this.wantedComputeMicroversion, undefined, signal);
    this.transport.logger.debug(
      { microversion: this.computeMicroversion, endpoint: bare.endpoint },
      'compute microversion negotiated',
    );
    return bare.withHeaders(microversionHeaders('compute', this.computeMicroversion));
  }
}
