import type { AgentConfigInput } from '../guest/agent-config.js';
import type { Store } from '../store/types.js';
import type { GuestIdentity } from '../taskmanager/tasks/deps.js';
import type { EnrolmentTokens } from './tokens.js';

/**
 * How a guest gets its X.509 identity:
 *   - `issued`: the control plane makes the guest's key and certificate and ships both in the bootstrap
 *     (user-data / config drive). Simple, but whoever can read the bootstrap (a cloud's metadata service, API
 *     users with access to the server's user-data) holds the guest's key.
 *   - `enrolment`: the bootstrap carries a one-time token and the enrolment URL instead; the agent makes its key
 *     inside the guest and trades a CSR plus the token for its certificate. The key never leaves the guest; a
 *     token read from the metadata after the guest enrolled is worth nothing (used), and before that it buys a
 *     certificate only for this guest id, once, until the build deadline.
 */
export type GuestIdentityMode = 'issued' | 'enrolment';

export interface GuestEnrolmentOptions {
  /** The enrolment endpoint as guests reach it, e.g. `https://10.0.2.2:<port>/v1/enrol`. */
  guestUrl: string;
  /** Token lifetime (default: the build timeout, after which the instance is in ERROR anyway). */
  tokenTtlMs?: number;
  /** How long the agent waits for its certificate (default 60 s). */
  timeoutSeconds?: number;
}

/** The task manager's GuestIdentity in enrolment mode: no key, no certificate, a token for the bootstrap. */
export interface EnrolmentGrant extends GuestIdentity {
  enrolment: { url: string; token: string; timeoutSeconds: number; expiresAt: number };
}

export function isEnrolmentGrant(identity: GuestIdentity): identity is EnrolmentGrant {
  return 'enrolment' in identity && typeof (identity as Partial<EnrolmentGrant>).enrolment?.token === 'string';
}

/**
 * Grants an instance's guest an enrolment token. `serial` is the serial its certificate will carry, so the create
 * task records the right one; the token itself stays in the worker's memory and the bootstrap only.
 */
export async function grantEnrolment(
  deps: { store: Store; tokens: EnrolmentTokens; caPem: string; options: GuestEnrolmentOptions; buildMs: number },
  instanceId: string,
): Promise<EnrolmentGrant> {
  const instance = await deps.store.getInstance(instanceId, { includeDeleted: true });
  const issued = deps.tokens.issue({
    instanceId,
    guestId: instance.guestId,
    ttlMs: deps.options.tokenTtlMs ?? deps.buildMs,
  });
  return {
    certPem: '',
    keyPem: '',
    caPem: deps.caPem,
    serial: issued.serial,
    enrolment: {
      url: deps.options.guestUrl,
      token: issued.token,
      timeoutSeconds: deps.options.timeoutSeconds ?? 60,
      expiresAt: issued.claims.expiresAt,
    },
  };
}

/** The identity half of the agent's `broker` config: certificate and key, or the enrolment settings. */
export function agentBrokerIdentity(
  identity: GuestIdentity,
): Pick<AgentConfigInput['broker'], 'caPem' | 'certPem' | 'keyPem' | 'enrolment'> {
  if (isEnrolmentGrant(identity)) {
    const { url, token, timeoutSeconds } = identity.enrolment;
    return { caPem: identity.caPem, enrolment: { url, token, timeoutSeconds } };
  }
  return { caPem: identity.caPem, certPem: identity.certPem, keyPem: identity.keyPem };
}
