import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Stateless DPoP server nonces (RFC 9449 §9): the nonce of time step `n` is
 * BASE64URL(HMAC-SHA-256(secret, "bearer-guard dpop nonce " + n)). Replicas that share the secret
 * issue and accept the same nonces without any shared state (node-oidc-provider's design). A nonce
 * is accepted during its own step and the next one, so it lives between one and two steps; it is
 * unpredictable without the secret (§9: "MUST be unpredictable"), and a replayed proof is still
 * caught by the `jti` store while the nonce lives.
 */
export class DpopNonces {
  readonly #secret: Buffer;
  readonly #stepMs: number;

  constructor(secret: Buffer, stepSeconds: number) {
    this.#secret = secret;
    this.#stepMs = stepSeconds * 1000;
  }

  #nonceOf(step: number): string {
    return createHmac('sha256', this.#secret)
      .update(`bearer-guard dpop nonce ${String(step)}`)
      .digest('base64url');
  }

  /** The nonce to hand out now (`DPoP-Nonce`). */
  current(nowMs: number = Date.now()): string {
    return this.#nonceOf(Math.floor(nowMs / this.#stepMs));
  }

  /** Whether `nonce` is the current step's or the previous one's. */
  accepts(nonce: unknown, nowMs: number = Date.now()): boolean {
    if (typeof nonce !== 'string' || nonce.length !== 43) return false;
    const step = Math.floor(nowMs / this.#stepMs);
    const given = Buffer.from(nonce);
    for (const candidate of [step, step - 1]) {
      const expected = Buffer.from(this.#nonceOf(candidate));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return true;
    }
    return false;
  }
}
