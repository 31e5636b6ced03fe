import * as z from 'zod';

/**
 * The guest agent's configuration: written by the task manager into the guest's bootstrap (cloud-init
 * user-data or a config drive) and read by `corral-agent` inside the guest. One schema for both sides.
 */

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PEM_PRIVATE_KEY = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:EC |RSA )?PRIVATE KEY-----/;

/**
 * A guest id is also an MQTT topic level and a certificate CN: the messaging layer's rule (no `/`, `+`, `#`,
 * and no `.`, which marks service identities).
 */
const AgentGuestIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'must be 1-128 letters, digits, `_` or `-` (it is a topic level)');

const CertificatePemSchema = z.string().regex(PEM_CERTIFICATE, 'must be a PEM certificate (BEGIN CERTIFICATE)');
const PrivateKeyPemSchema = z.string().regex(PEM_PRIVATE_KEY, 'must be a PEM private key (BEGIN PRIVATE KEY)');

export const EnrolmentSchema = z.object({
  /**
   * The control plane's enrolment endpoint (HTTPS, its server certificate signed by `caPem`): the agent POSTs
   * `{guestId, instanceId, token, csrPem}` as JSON and gets `{certPem}` back. The broker only admits clients
   * with a certificate, so enrolment cannot ride on MQTT.
   */
  url: z.string().regex(/^https:\/\/[^\s/]+(:\d+)?(\/\S*)?$/, 'must be an https:// URL'),
  /** One-time token the control plane accepts once with a CSR for this guest id. */
  token: z.string().min(16, 'must be at least 16 characters'),
  /** How long the agent waits for its certificate before it gives up (and exits non-zero). */
  timeoutSeconds: z.number().int().min(1).max(3600).default(60),
});

export const AgentBrokerSchema = z
  .object({
    url: z
      .string()
      .regex(/^(mqtts|mqtt|wss|ws):\/\/[^\s/]+(:\d+)?(\/\S*)?$/, 'must be a broker URL such as mqtts://10.0.2.2:8883'),
    caPem: CertificatePemSchema,
    certPem: CertificatePemSchema.optional(),
    keyPem: PrivateKeyPemSchema.optional(),
    enrolment: EnrolmentSchema.optional(),
    /** How long the agent waits for its first connection before it exits non-zero (never a hang). */
    connectTimeoutSeconds: z.number().min(1).max(3600).default(30),
  })
  .superRefine((broker, ctx) => {
    const hasCert = broker.certPem !== undefined || broker.keyPem !== undefined;
    if (hasCert && (broker.certPem === undefined || broker.keyPem === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [broker.certPem === undefined ? 'certPem' : 'keyPem'],
        message: 'certPem and keyPem go together',
      });
    }
    if (!hasCert && broker.enrolment === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs either certPem + keyPem or enrolment' });
    }
    if (hasCert && broker.enrolment !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['enrolment'],
        message: 'give either certPem + keyPem or enrolment, not both',
      });
    }
  });

export const AgentDatastoreSchema = z.object({
  /** Registry name of the manager, e.g. `redis` or `postgresql` (Trove's datastore_manager). */
  manager: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a lower-case manager name such as redis'),
  version: z.string().min(1),
  /** Port the datastore listens on; each manager has its default (redis 6379, postgresql 5432). */
  port: z.number().int().min(1).max(65535).optional(),
  /** Address the datastore binds to; in a guest `0.0.0.0` (the default), on a shared host `127.0.0.1`. */
  bindAddress: z.string().min(1).optional(),
  /** Manager-specific settings, validated by the manager itself. */
  options: z.record(z.string(), z.unknown()).default({}),
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const AgentConfigSchema = z.object({
  guestId: AgentGuestIdSchema,
  instanceId: z.string().min(1),
  broker: AgentBrokerSchema,
  heartbeatIntervalSeconds: z.number().min(0.2).max(3600).default(10),
  datastore: AgentDatastoreSchema,
  /** Extra managers: name → module path (ESM, default-exports or exports `createManager`); override defaults. */
  managers: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), z.string().min(1)).default({}),
  stateDir: z.string().startsWith('/', 'must be an absolute path').default('/var/lib/corral-agent'),
  logLevel: z.enum(LOG_LEVELS).default('info'),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;
/** The configuration as written (defaults not yet applied). */
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

export const CLOUD_CONFIG_HEADER = '#cloud-config';

/**
 * Encodes the config as cloud-init user-data: a `#cloud-config` document whose `corral:` key holds the
 * config. The body is JSON, which is valid YAML, so a real cloud-init image accepts it too.
 */
export function encodeAgentUserData(config: AgentConfigInput): string {
  return `${CLOUD_CONFIG_HEADER}\n${JSON.stringify({ corral: config })}\n`;
}

export class AgentUserDataError extends Error {
  readonly code = 'AGENT_USER_DATA_INVALID';
  override readonly name = 'AgentUserDataError';
}

/**
 * Reads the `corral:` key out of cloud-init user-data, parsing the body after the header with `parseBody`
 * (`decodeAgentUserData` passes a YAML parser). Returns the raw value; validate it with `AgentConfigSchema`.
 * Errors never quote the text (it carries secrets). Kept apart from the YAML parser so the guest agent loads
 * that parser only for user-data that is not JSON.
 */
export function decodeAgentUserDataWith(text: string, parseBody: (body: string) => unknown): unknown {
  const firstLine = text.split('\n', 1)[0]?.trim();
  if (firstLine !== CLOUD_CONFIG_HEADER) {
    throw new AgentUserDataError(`user-data: must start with a "${CLOUD_CONFIG_HEADER}" line`);
  }
  let document: unknown;
  try {
    document = parseBody(text.slice(text.indexOf('\n') + 1));
  } catch (error) {
    const where = error instanceof Error && 'linePos' in error ? ' (not valid YAML)' : '';
    throw new AgentUserDataError(`user-data: cannot be parsed as YAML${where}`);
  }
  if (typeof document !== 'object' || document === null || !('corral' in document)) {
    throw new AgentUserDataError('user-data: has no top-level "corral" key');
  }
  return (document as { corral: unknown }).corral;
}
