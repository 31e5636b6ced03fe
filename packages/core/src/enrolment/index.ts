export { ENROLMENT_REFUSALS, EnrolmentError, type EnrolmentRefusalCode } from './errors.js';
export {
  agentBrokerIdentity,
  type EnrolmentGrant,
  type GuestEnrolmentOptions,
  type GuestIdentityMode,
  grantEnrolment,
  isEnrolmentGrant,
} from './identity.js';
export { type RateLimitOptions, SourceRateLimiter } from './rate-limit.js';
export {
  DEFAULT_MAX_BODY_BYTES,
  ENROLMENT_PATH,
  type EnrolmentReply,
  EnrolmentReplySchema,
  type EnrolmentRequest,
  EnrolmentRequestSchema,
  MAX_CSR_PEM_CHARS,
} from './schema.js';
export { type EnrolmentServerHandle, type EnrolmentServerOptions, startEnrolmentServer } from './server.js';
export { type Enrolled, EnrolmentService, type EnrolmentServiceOptions } from './service.js';
export { type EnrolmentTokenClaims, EnrolmentTokens, type IssuedEnrolmentToken } from './tokens.js';
