/**
 * Key and CSR making for enrolment, in a module of its own so the agent loads pkijs and WebCrypto only when it
 * enrols (once per guest), not on every start.
 */
export { createKeyAndCsr } from '@corral/core/pki';
