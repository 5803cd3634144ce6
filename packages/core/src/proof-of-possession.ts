import { createHash } from 'node:crypto';

import type { PresentedToken, ResourceRequest } from './bearer-token.js';
import { certificateThumbprint } from './certificate-binding.js';
import { checkDpopProofInPool, type CheckedDpopProof } from './dpop-proof.js';
import { DpopProofQuotaError } from './dpop-replay.js';
import { BearerGuardError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Principal } from './principal.js';
import { normalizeHttpUrl, requestUrl } from './request-url.js';
import type { ResolvedDpop } from './sender-constraint-options.js';

function fail(code: ConstructorParameters<typeof BearerGuardError>[0], reason: string): never {
  throw new BearerGuardError(code, { cause: new Error(reason) });
}

const isDpopType = (tokenType: unknown): boolean =>
  typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop';

/** A day: the longest `Retry-After` a store's quota error is taken at. */
const MAX_RETRY_AFTER = 86_400;

/**
 * 429 for a client over its quota (the store says so), 503 for any other failure of the store. The
 * store's `retryAfter` is the operator's code and may be anything: `Retry-After` is delay-seconds,
 * `1*DIGIT` (RFC 9110 §10.2.3), so it is rounded up into 1 s to a day (1 when not a number).
 */
function storeFailure(cause: unknown): BearerGuardError {
  if (cause instanceof DpopProofQuotaError) {
    const { retryAfter } = cause;
    return new BearerGuardError('ERR_BEARER_DPOP_PROOF_QUOTA_EXCEEDED', {
      cause,
      retryAfter:
        typeof retryAfter === 'number' && !Number.isNaN(retryAfter)
          ? Math.min(MAX_RETRY_AFTER, Math.max(1, Math.ceil(retryAfter)))
          : 1,
    });
  }
  return new BearerGuardError('ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE', { cause, retryAfter: 1 });
}

/** The replay-store key: a hash, so neither the client's `jti` nor its size reaches the store (RFC 9449 §11.1). */
function replayKey(jkt: string, htu: string, jti: string): string {
  return `bg:dpop:v1:${createHash('sha256').update(`${jkt}\n${htu}\n${jti}`).digest('base64url')}`;
}

/**
 * Decide whether the presenter of a validated token may use it on this request: the check of its
 * binding (RFC 7800 `cnf`), which runs on every request after the token came from a cache or a
 * validation, since it depends on the request and not on the token alone.
 *
 * - `Authorization: DPoP`: the token must be bound by `cnf.jkt` (for introspection also
 *   `token_type` `DPoP` when present, RFC 9449 §6.2); the proof passes every check of
 *   {@link checkDpopProofInPool}; its key's thumbprint equals `cnf.jkt`; it carries a current server
 *   nonce when nonces are on (§9); and it was not used before (§11.1): recorded last, once every
 *   other check passed, so a refused proof burns nothing.
 * - `Bearer` (or a token from the query or body): a DPoP-bound token is refused (§7.2, also when
 *   DPoP is off); a certificate-bound one needs `mtls` and the matching client certificate (RFC
 *   8705 §3); an unbound one passes unless `dpop.required`.
 */
export class ProofOfPossession {
  readonly #options: ResolvedOptions;
  readonly #dpop: ResolvedDpop | undefined;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#dpop = options.dpop;
  }

  /** The principal when the binding holds; a promise of it when the replay store answers later. */
  confirm(
    request: ResourceRequest | undefined,
    presented: PresentedToken,
    principal: Principal,
  ): Principal | Promise<Principal> {
    const binding = principal.confirmation;
    const dpop = this.#dpop;
    if (presented.scheme === 'dpop' && dpop !== undefined && request !== undefined) {
      if (binding === undefined || !('jkt' in binding)) {
        fail('ERR_BEARER_DPOP_BINDING_MISMATCH', 'the token is not bound by cnf.jkt');
      }
      const tokenType = principal.source === 'introspection' ? principal.claims['token_type'] : undefined;
      if (typeof tokenType === 'string' && tokenType.toLowerCase() !== 'dpop') {
        fail('ERR_BEARER_DPOP_BINDING_MISMATCH', 'introspection token_type is not DPoP');
      }
      return this.#checkProof(request, presented.token, binding.jkt, dpop, principal);
    }
    if (principal.source === 'introspection' && isDpopType(principal.claims['token_type'])) {
      // RFC 9449 §7.2, §6.2: a DPoP token (bound by `cnf.jkt`, or saying so in `token_type`) as a bearer token.
      fail('ERR_BEARER_TOKEN_SENDER_CONSTRAINED', 'token_type DPoP presented as a bearer token');
    }
    if (binding === undefined) {
      if (dpop?.required === true)
        fail('ERR_BEARER_DPOP_REQUIRED', 'an unbound token where DPoP is required');
      return principal;
    }
    if ('jkt' in binding) {
      // RFC 9449 §7.2: "MUST reject a DPoP-bound access token received as a bearer token".
      fail('ERR_BEARER_TOKEN_SENDER_CONSTRAINED', 'a cnf.jkt-bound token presented as a bearer token');
    }
    const mtls = this.#options.mtls;
    if (mtls === undefined) {
      fail('ERR_BEARER_TOKEN_SENDER_CONSTRAINED', 'a cnf.x5t#S256-bound token, and no mtls option');
    }
    let thumbprint: string | undefined;
    try {
      thumbprint =
        request === undefined
          ? undefined
          : certificateThumbprint(request, mtls.certificate, this.#options.trustProxy);
    } catch (error) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH', { cause: error });
    }
    if (thumbprint === undefined) fail('ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH', 'no client certificate');
    if (thumbprint !== binding['x5t#S256']) {
      fail('ERR_BEARER_TOKEN_CERTIFICATE_MISMATCH', 'the client certificate is not the one of cnf.x5t#S256');
    }
    return principal;
  }

  #checkProof(
    request: ResourceRequest,
    token: string,
    jkt: string,
    dpop: ResolvedDpop,
    principal: Principal,
  ): Principal | Promise<Principal> {
    const nowMs = Date.now();
    const proof = checkDpopProofInPool(request.headers['dpop'], {
      method: request.method ?? '',
      url: requestUrl(request, this.#options.publicUrl, this.#options.trustProxy),
      accessToken: token,
      algorithms: dpop.algorithms,
      iatWindow: dpop.iatWindow,
      clockTolerance: this.#options.clockTolerance,
      nowSeconds: nowMs / 1000,
      normalizeUrl: normalizeHttpUrl,
    });
    if (proof instanceof Promise)
      return proof.then((checked) => this.#bound(checked, jkt, dpop, principal, nowMs));
    return this.#bound(proof, jkt, dpop, principal, nowMs);
  }

  /** The proof's key is the token's, its nonce current, and its `jti` not seen before. */
  #bound(
    proof: CheckedDpopProof,
    jkt: string,
    dpop: ResolvedDpop,
    principal: Principal,
    nowMs: number,
  ): Principal | Promise<Principal> {
    if (proof.jkt !== jkt) fail('ERR_BEARER_DPOP_BINDING_MISMATCH', 'the proof key is not cnf.jkt');
    // RFC 9449 §9, §11.3: once nonces are on, a proof without the current one is refused.
    if (dpop.nonces !== undefined && !dpop.nonces.accepts(proof.nonce, nowMs)) {
      fail('ERR_BEARER_DPOP_NONCE_REQUIRED', 'no current server nonce in the proof');
    }
    // TTL: the rest of the proof's acceptance window, so it is remembered while it could be accepted,
    // plus `clockTolerance`: replicas sharing the store accept it until the window ends on their own
    // clock, and one whose clock lags ours must still find it (RFC 9449 §11.1).
    const ttlMs = Math.max(
      1000,
      Math.ceil((proof.iat + dpop.iatWindow + this.#options.clockTolerance) * 1000 - nowMs),
    );
    const key = replayKey(jkt, proof.htu, proof.jti);
    let answer: unknown;
    try {
      answer = dpop.replayStore.setIfAbsent(key, ttlMs, jkt);
    } catch (error) {
      throw storeFailure(error);
    }
    if (!(answer instanceof Promise)) return this.#recorded(answer, principal);
    return this.#withDeadline(answer).then((recorded) => this.#recorded(recorded, principal));
  }

  #recorded(answer: unknown, principal: Principal): Principal {
    if (answer === true) return principal;
    if (answer === false) fail('ERR_BEARER_DPOP_PROOF_REPLAYED', 'jti already used with this key and htu');
    throw storeFailure(new Error('the replay store answered neither true nor false'));
  }

  /** A store that does not answer within `timeout` fails the request (503): never a hang, never a pass. */
  async #withDeadline(answer: Promise<unknown>): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          storeFailure(
            new Error(`the replay store did not answer within ${String(this.#options.timeout)} ms`),
          ),
        );
      }, this.#options.timeout);
    });
    try {
      return await Promise.race([
        answer.catch((error: unknown) => {
          throw storeFailure(error);
        }),
        deadline,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
