import type { RenewalReason } from './events.js';
import type { IssuedToken } from './token-request.js';

/**
 * A token held by the cache. Times are on the monotonic clock (`performance.now()`, ms): the
 * lifetime is relative (`expires_in`), so a wall-clock step (NTP, a suspended VM) must not stretch it.
 */
export interface CachedToken {
  readonly accessToken: string;
  readonly scope: string | undefined;
  /** After this the token is never handed out. */
  readonly expiresAt: number;
  /** From this on, a call starts a renewal in the background and still gets this token. */
  readonly renewAt: number;
}

/** Obtains a new token (with retries and events); supplied by the token client. */
export type AcquireToken = (reason: RenewalReason) => Promise<CachedToken>;

interface Slot {
  token: CachedToken | undefined;
  inFlight: Promise<CachedToken> | undefined;
  /** No proactive renewal before this: after one failed, a down server is not asked on every call. */
  quietUntil: number;
  /** Why the token is gone, when it was dropped on purpose. */
  dropped: RenewalReason | undefined;
  /** When a backend's refusal last dropped the token (see {@link TokenCache.refuse}). */
  refusedAt: number;
}

/** Default bound of the (scope, resource) slots. */
export const MAX_SLOTS = 256;
/** Longest wait between background renewal attempts while the server is down. */
const MAX_QUIET_PERIOD = 5000;
/** Default time after a refusal dropped a token during which a refusal of its successor drops nothing. */
export const REFUSAL_COOLDOWN = 5000;

/**
 * When a token stops being handed out and when its renewal starts.
 *
 * `expires_in` is in whole seconds (RFC 6749 §5.1) and servers count it from a truncated clock
 * (`exp = iat + ttl`, with `iat` rounded down), so a token can die up to a second before
 * `sentAt + expires_in`: the client stops using it that much earlier (a quarter of the lifetime for
 * tokens shorter than 4 s). The renewal margin defaults to 60 s or 10 % of the lifetime, whichever
 * is smaller, and never exceeds half the usable lifetime, so a large margin cannot turn every call
 * into a renewal.
 */
export function toCachedToken(issued: IssuedToken, renewalMargin: number | undefined): CachedToken {
  const lifetime = issued.expiresIn * 1000;
  const expiresAt = issued.sentAt + lifetime - Math.min(1000, lifetime / 4);
  const usable = expiresAt - issued.sentAt;
  const margin = Math.min(renewalMargin ?? Math.min(60_000, lifetime / 10), usable / 2);
  return { accessToken: issued.accessToken, scope: issued.scope, expiresAt, renewAt: expiresAt - margin };
}

/**
 * One cached token per (scope, resource) key. Concurrent callers share one in-flight request; a
 * token in its renewal margin is still handed out while a single background renewal runs; an
 * expired token is never handed out. A failed background renewal leaves the valid token in place,
 * so an authorization-server outage costs nothing until the token actually expires.
 *
 * Callers choose scopes and resources per call, so the number of keys is theirs, not ours: at most
 * `maxSlots` are kept, and a new key beyond that evicts the least recently used one, even if its
 * token is still valid (its next caller simply gets a new token).
 */
export class TokenCache {
  /** In use order: `get` moves its key to the end, so the first entry is the least recently used. */
  readonly #slots = new Map<string, Slot>();
  readonly #maxSlots: number;
  readonly #refusalCooldown: number;

  constructor({ maxSlots = MAX_SLOTS, refusalCooldown = REFUSAL_COOLDOWN } = {}) {
    this.#maxSlots = maxSlots;
    this.#refusalCooldown = refusalCooldown;
  }

  /** How many (scope, resource) keys are held. */
  get size(): number {
    return this.#slots.size;
  }

  /** A token that is valid now: the cached one, or a new one from `acquire`. */
  get(key: string, acquire: AcquireToken, { force = false } = {}): Promise<CachedToken> {
    const slot = this.#slot(key);
    const now = performance.now();
    const token = slot.token;
    if (token !== undefined && now < token.expiresAt && !force) {
      if (now >= token.renewAt && slot.inFlight === undefined && now >= slot.quietUntil) {
        // The failure is reported by acquire's event; callers keep the still-valid token.
        this.#renew(slot, acquire, 'proactive').catch(() => undefined);
      }
      return Promise.resolve(token);
    }
    if (slot.inFlight !== undefined) return slot.inFlight;
    let reason: RenewalReason = force ? 'forced' : (slot.dropped ?? 'initial');
    if (token !== undefined && !force) reason = 'expired';
    slot.token = undefined;
    return this.#renew(slot, acquire, reason);
  }

  /** The token for `key` if one is valid now, without renewing. */
  peek(key: string): CachedToken | undefined {
    const token = this.#slots.get(key)?.token;
    return token !== undefined && performance.now() < token.expiresAt ? token : undefined;
  }

  /** Drop the cached token for `key` (the caller asked), so the next `get` renews. */
  invalidate(key: string): void {
    const slot = this.#slots.get(key);
    if (slot?.token === undefined) return;
    slot.token = undefined;
    slot.dropped = 'invalid_token';
  }

  /**
   * A backend refused `accessToken` (RFC 6750 §3.1 `invalid_token`). Returns whether a request is
   * worth sending again with the token `get` now gives.
   *
   * - The token is no longer the cached one: another refused call already dropped it (or it was
   *   renewed), so the retry shares that renewal instead of dropping the token it just brought.
   * - It is the cached one: it is dropped, unless a refusal dropped the previous token less than the
   *   cooldown ago. A backend that refuses every token (a wrong audience, a hostile server) would
   *   otherwise turn each call into a token request; within the cooldown the refusal is returned as
   *   it is and the token stays.
   */
  refuse(key: string, accessToken: string): boolean {
    const slot = this.#slots.get(key);
    if (slot?.token?.accessToken !== accessToken) return true;
    const now = performance.now();
    if (now - slot.refusedAt < this.#refusalCooldown) return false;
    slot.refusedAt = now;
    slot.token = undefined;
    slot.dropped = 'invalid_token';
    return true;
  }

  /** Drop every cached token. */
  clear(): void {
    for (const slot of this.#slots.values()) slot.token = undefined;
  }

  #renew(slot: Slot, acquire: AcquireToken, reason: RenewalReason): Promise<CachedToken> {
    const flight = (async () => {
      try {
        const token = await acquire(reason);
        slot.token = token;
        slot.dropped = undefined;
        slot.quietUntil = 0;
        return token;
      } catch (error) {
        // A quarter of the margin (at most 5 s) between background attempts: several tries before
        // the token expires, whether the margin is half a second or a minute.
        const margin = slot.token === undefined ? 0 : slot.token.expiresAt - slot.token.renewAt;
        slot.quietUntil = performance.now() + Math.min(MAX_QUIET_PERIOD, margin / 4);
        throw error;
      } finally {
        slot.inFlight = undefined;
      }
    })();
    slot.inFlight = flight;
    return flight;
  }

  #slot(key: string): Slot {
    let slot = this.#slots.get(key);
    if (slot !== undefined) {
      this.#slots.delete(key);
      this.#slots.set(key, slot);
      return slot;
    }
    if (this.#slots.size >= this.#maxSlots) this.#evict();
    slot = { token: undefined, inFlight: undefined, quietUntil: 0, dropped: undefined, refusedAt: -Infinity };
    this.#slots.set(key, slot);
    return slot;
  }

  /**
   * Make room for one key: forget slots with nothing valid first, then the least recently used one
   * without a request in flight (its waiters would otherwise lose the shared request), and only when
   * every slot is waiting for a token, the least recently used one anyway: the bound holds. An
   * evicted flight still settles for the callers already waiting on it.
   */
  #evict(): void {
    const now = performance.now();
    for (const [key, slot] of this.#slots) {
      if (slot.inFlight === undefined && (slot.token === undefined || now >= slot.token.expiresAt)) {
        this.#slots.delete(key);
      }
    }
    if (this.#slots.size < this.#maxSlots) return;
    let victim: string | undefined;
    for (const [key, slot] of this.#slots) {
      if (slot.inFlight === undefined) {
        victim = key;
        break;
      }
    }
    victim ??= this.#slots.keys().next().value;
    if (victim !== undefined) this.#slots.delete(victim);
  }
}
