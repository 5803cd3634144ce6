/**
 * Every request-time failure, by stable code. Codes are the contract; messages are not.
 * Each code has a heading in `docs/errors.md`.
 */
export const ERROR_TABLE = {
  // RFC 6750 §3.1: a request without credentials gets a bare challenge and no error code. The
  // JSON body is ours, not the RFC's: `toJSON()` says `unauthorized` there (see below).
  ERR_BEARER_TOKEN_MISSING: { status: 401, error: undefined, description: undefined },
  ERR_BEARER_HEADER_MALFORMED: {
    status: 400,
    error: 'invalid_request',
    description: 'The Authorization header is not a valid Bearer credential.',
  },
  ERR_BEARER_MULTIPLE_METHODS: {
    status: 400,
    error: 'invalid_request',
    description: 'The access token was sent by more than one method.',
  },
  ERR_BEARER_TOKEN_MALFORMED: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is malformed.',
  },
  ERR_BEARER_TOKEN_SIGNATURE_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token signature is invalid.',
  },
  ERR_BEARER_TOKEN_ALGORITHM_REJECTED: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is signed with an algorithm that is not accepted.',
  },
  ERR_BEARER_TOKEN_KEY_UNKNOWN: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is signed with an unknown key.',
  },
  ERR_BEARER_TOKEN_EXPIRED: { status: 401, error: 'invalid_token', description: 'The access token expired.' },
  ERR_BEARER_TOKEN_NOT_YET_VALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not valid yet.',
  },
  ERR_BEARER_TOKEN_TOO_OLD: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is too old.',
  },
  ERR_BEARER_TOKEN_ISSUER_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token was not issued by a trusted issuer.',
  },
  ERR_BEARER_TOKEN_AUDIENCE_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not meant for this resource.',
  },
  ERR_BEARER_TOKEN_TYPE_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token has an unexpected type.',
  },
  ERR_BEARER_TOKEN_CLAIM_INVALID: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token has a missing or invalid claim.',
  },
  ERR_BEARER_TOKEN_SENDER_CONSTRAINED: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is bound to a key and cannot be used as a bearer token.',
  },
  ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is bound to a client certificate that was not presented.',
  },
  ERR_BEARER_DPOP_REQUIRED: {
    status: 401,
    error: 'invalid_token',
    description: 'This resource requires a DPoP-bound access token.',
  },
  ERR_BEARER_DPOP_BINDING_MISMATCH: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not bound to the key of the DPoP proof.',
  },
  ERR_BEARER_DPOP_PROOF_MISSING: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The request has no DPoP proof.',
  },
  ERR_BEARER_DPOP_PROOF_MALFORMED: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof is malformed.',
  },
  ERR_BEARER_DPOP_PROOF_SIGNATURE_INVALID: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof signature is invalid.',
  },
  ERR_BEARER_DPOP_PROOF_MISMATCH: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof does not match this request.',
  },
  ERR_BEARER_DPOP_PROOF_STALE: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof was not created recently enough.',
  },
  ERR_BEARER_DPOP_PROOF_REPLAYED: {
    status: 401,
    error: 'invalid_dpop_proof',
    description: 'The DPoP proof was already used.',
  },
  // RFC 9449 §9: the exact shape of its example, which clients (oauth4webapi) retry on.
  ERR_BEARER_DPOP_NONCE_REQUIRED: {
    status: 401,
    error: 'use_dpop_nonce',
    description: 'Resource server requires nonce in DPoP proof',
  },
  ERR_BEARER_TOKEN_INACTIVE: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not active.',
  },
  ERR_BEARER_INSUFFICIENT_SCOPE: {
    status: 403,
    error: 'insufficient_scope',
    description: 'The access token does not carry the scope this resource requires.',
  },
  // 503 for every upstream failure: the token may well be good, so 401 would make clients throw it away.
  ERR_BEARER_JWKS_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The keys needed to validate the access token cannot be retrieved. Try again later.',
  },
  ERR_BEARER_DISCOVERY_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The authorization server metadata cannot be retrieved. Try again later.',
  },
  ERR_BEARER_INTROSPECTION_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The access token cannot be validated at the moment. Try again later.',
  },
  // Fail closed: a proof that cannot be recorded could be replayed, so it is not accepted.
  ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'The DPoP proof cannot be checked at the moment. Try again later.',
  },
  // A per-client bound of the replay store (dpop-replay.ts): the client alone is refused, not
  // everyone (a full store). Not a challenge: the credentials are fine, the rate is not.
  ERR_BEARER_DPOP_PROOF_QUOTA_EXCEEDED: {
    status: 429,
    error: 'temporarily_unavailable',
    description: 'Too many DPoP proofs of this key were accepted recently. Try again later.',
  },
} as const satisfies Record<
  string,
  { status: number; error: string | undefined; description: string | undefined }
>;
