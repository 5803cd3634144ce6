import { errors as joseErrors } from 'jose';
import type { JWSHeaderParameters, FlattenedJWSInput } from 'jose';
import { payloadUrl, type KeysLoadMessage } from './diagnostics.js';
import { BearerGuardError } from './errors.js';
import type { GuardEvents } from './events.js';
import { keyIdentity } from './internal/key-identity.js';
import { keySetUnavailable, namesIssuer, unusableKey } from './jwks-failure.js';
import {
  fetchKeySet,
  traceKeySetLoad,
  type KeyLookup,
  type KeySetLoadTrigger,
  type ResolvedKey,
} from './jwks-fetch.js';
import { KeySelections } from './key-selections.js';
import type { KeyHolder } from './token-cache.js';

/** While a key set is failing, another load is tried at most this often (ms). */
const RETRY_AFTER_FAILURE = 5_000;

export interface RemoteKeySetOptions {
  /** The configured issuer, for events and errors. */
  issuer: string;
  /** The `jwks_uri`, or a function that finds it (discovery). */
  uri: () => Promise<string>;
  /** How long a loaded key set is fresh, in ms. Defaults to `600_000`. */
  cacheMaxAge: number;
  /** Least time between two refetches caused by an unknown `kid`, in ms. Defaults to `30_000`. */
  cooldown: number;
  /** How long past `cacheMaxAge` known keys keep working while refreshes fail, in ms. */
  staleMaxAge: number;
  /** Deadline per fetch, in ms. */
  timeout: number;
  /** Largest accepted JWKS document, in bytes. */
  maxBytes: number;
  events: GuardEvents;
  now?: () => number;
}

/**
 * A remote JWK Set with the resilience jose's `createRemoteJWKSet` leaves to the caller.
 *
 * jose's remote set caches (cacheMaxAge), refetches on a `kid` miss after a cooldown and coalesces
 * concurrent loads. It does not: serve known keys when a refresh fails (stale-if-error); refetch
 * at once on the first miss after start-up (a key published just after we loaded would otherwise
 * be refused for a whole cooldown); cap the response size; check the content type; or tell an
 * unreachable key set (our 503) from an unknown key (401). This class adds those, and uses jose's
 * `createLocalJWKSet` for key selection, so `kid`/`alg`/`kty`/`use` matching stays jose's.
 *
 * It never looks at `jku`, `x5u`, `jwk` or `x5c` headers: keys come only from the configured
 * set (RFC 8725 §3.10).
 */
export class RemoteKeySet implements KeyHolder {
  readonly #options: RemoteKeySetOptions;
  readonly #now: () => number;
  #lookup: KeyLookup | undefined;
  /** The identities (`jwkIdentity`, internal/key-identity.ts) of the loaded keys. */
  #identities = new Set<string>();
  #generation = 0;
  #loadedAt = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastFailure: unknown;
  #missRefetchAllowed = false;
  #pending: Promise<boolean> | undefined;
  /** jose's selections from the current load, by `alg` and `kid` (see {@link knownKey}). */
  readonly #selections = new KeySelections<ResolvedKey>();

  constructor(options: RemoteKeySetOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Operator-facing state. */
  get state(): { loaded: boolean; fresh: boolean; coolingDown: boolean; loadedAt: number | undefined } {
    const now = this.#now();
    return {
      loaded: this.#lookup !== undefined,
      fresh: this.#lookup !== undefined && now - this.#loadedAt < this.#options.cacheMaxAge,
      coolingDown: now - this.#lastAttemptAt < this.#options.cooldown,
      loadedAt: this.#lookup === undefined ? undefined : this.#loadedAt,
    };
  }

  /** Bumped on every successful load: cached tokens of an older generation check their key again. */
  get generation(): number {
    return this.#generation;
  }

  /** Whether the loaded set still holds `key` (a key it resolved before, maybe from an older load). */
  holds(key: unknown): boolean {
    const identity = keyIdentity(key);
    return identity !== undefined && this.#identities.has(identity);
  }

  /**
   * Until when (epoch ms) a cached token these keys verified may be served without a look at them:
   * while they are fresh, until `cacheMaxAge` runs out (the token's next verification reloads them);
   * while refreshes fail, until the next retry and never past `staleMaxAge`; else `0` (not at all).
   */
  reuseUntil(): number {
    if (this.#lookup === undefined) return 0;
    const { cacheMaxAge, staleMaxAge } = this.#options;
    const freshUntil = this.#loadedAt + cacheMaxAge;
    if (this.#now() < freshUntil) return freshUntil;
    if (this.#lastFailure === undefined) return 0;
    return Math.min(freshUntil + staleMaxAge, this.#lastAttemptAt + this.#retryInterval);
  }

  /** Load the key set now (start-up warm-up). Rejects with the cause when it cannot be loaded. */
  async load(): Promise<void> {
    if (await this.#reload('ready')) throw this.#unavailable();
  }

  /**
   * The key jose selected before, from the keys as loaded now, for a token with this `alg` and
   * `kid`, while they are fresh; else `undefined` (ask {@link getKey}). The answer is the one
   * `getKey` would give (key-selections.ts), without its promise and key import: a never-seen
   * token signed by a known key goes straight to its signature check.
   */
  knownKey(alg: string, kid: unknown): ResolvedKey | undefined {
    return this.#freshLookup(this.#now()) === undefined ? undefined : this.#selections.get(alg, kid);
  }

  /** jose key resolver: `jwtVerify(token, keySet.getKey, …)`. */
  readonly getKey = (header: JWSHeaderParameters, input: FlattenedJWSInput): Promise<ResolvedKey> => {
    // Fresh keys (nearly every call): straight to jose's lookup, no async frame of ours around it;
    // the cold path pays for every promise on the way.
    const lookup = this.#freshLookup(this.#now());
    if (lookup !== undefined) {
      const generation = this.#generation;
      return lookup(header, input).then(
        (key) => this.#remember(generation, header, key),
        (error: unknown) => this.#afterMiss(error, header, input),
      );
    }
    return this.#getKeyLoading(header, input);
  };

  /** Remember jose's selection for {@link knownKey}, if the keys it came from are still the loaded ones. */
  #remember(generation: number, header: JWSHeaderParameters, key: ResolvedKey): ResolvedKey {
    if (generation === this.#generation) this.#selections.remember(header.alg, header.kid, key);
    return key;
  }

  /** The loaded keys while they are fresh (younger than `cacheMaxAge`), else `undefined`. */
  #freshLookup(now: number): KeyLookup | undefined {
    return now - this.#loadedAt < this.#options.cacheMaxAge ? this.#lookup : undefined;
  }

  async #getKeyLoading(header: JWSHeaderParameters, input: FlattenedJWSInput): Promise<ResolvedKey> {
    const lookup = await this.#currentLookup();
    const generation = this.#generation;
    try {
      return this.#remember(generation, header, await lookup(header, input));
    } catch (error) {
      return await this.#afterMiss(error, header, input);
    }
  }

  /** A lookup failed: for an unknown `kid` of ours, refetch (rate-limited) and look again. */
  async #afterMiss(
    error: unknown,
    header: JWSHeaderParameters,
    input: FlattenedJWSInput,
  ): Promise<ResolvedKey> {
    if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw this.#unusableKey(error);
    // A token that names another issuer must never cost a fetch (nor use up the immediate
    // refetch a genuinely new key of ours needs).
    if (!namesIssuer(input, this.#options.issuer)) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_ISSUER_INVALID', { cause: error });
    }
    if (!this.#mayRefetchOnMiss()) throw error;
    const failed = await this.#reload('unknown-kid');
    // The set could not be refreshed: the key may be a new one we cannot see yet, so this is an
    // outage (503), not a bad token (401).
    if (failed || this.#lookup === undefined) throw this.#unavailable();
    return this.#lookup(header, input).catch((again: unknown) => {
      throw this.#unusableKey(again);
    });
  }

  /** A lookup failure other than an unknown key: see {@link unusableKey}. */
  #unusableKey(error: unknown): unknown {
    return unusableKey(error, this.#options.issuer, this.#retryInterval);
  }

  /** The configured issuer this key set belongs to. */
  get issuer(): string {
    return this.#options.issuer;
  }

  async #currentLookup(): Promise<KeyLookup> {
    const now = this.#now();
    const fresh = this.#freshLookup(now);
    if (fresh !== undefined) return fresh;
    const age = now - this.#loadedAt;
    // Stale-if-error: known keys keep working for staleMaxAge past their freshness.
    const stale = age < this.#options.cacheMaxAge + this.#options.staleMaxAge ? this.#lookup : undefined;
    // While the set is failing, retry at most every RETRY_AFTER_FAILURE ms instead of on every request.
    const failingRecently =
      this.#lastFailure !== undefined && now - this.#lastAttemptAt < this.#retryInterval;
    const failed = failingRecently
      ? true
      : await this.#reload(this.#lookup === undefined ? 'initial' : 'expired');
    if (!failed && this.#lookup !== undefined) return this.#lookup;
    if (stale !== undefined) return stale;
    throw this.#unavailable();
  }

  get #retryInterval(): number {
    return Math.min(this.#options.cooldown, RETRY_AFTER_FAILURE);
  }

  #mayRefetchOnMiss(): boolean {
    if (this.#pending !== undefined) return true; // joining a load in flight costs nothing
    if (this.#missRefetchAllowed) {
      this.#missRefetchAllowed = false;
      return true;
    }
    return this.#now() - this.#lastAttemptAt >= this.#options.cooldown;
  }

  #unavailable(): BearerGuardError {
    return keySetUnavailable(this.#lastFailure, this.#retryInterval);
  }

  /** One load at a time: concurrent callers share the promise in flight. Resolves `true` on failure. */
  #reload(trigger: KeySetLoadTrigger): Promise<boolean> {
    this.#pending ??= this.#fetch(trigger).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** {@link #load}, published on `bearer-guard:keys.load` when someone listens. Resolves `true` on failure. */
  #fetch(trigger: KeySetLoadTrigger): Promise<boolean> {
    const { issuer } = this.#options;
    return traceKeySetLoad(
      issuer,
      trigger,
      (message) => this.#load(trigger, message),
      () => this.#lastFailure,
    );
  }

  async #load(trigger: KeySetLoadTrigger, message?: KeysLoadMessage): Promise<boolean> {
    const { issuer, events } = this.#options;
    this.#lastAttemptAt = this.#now();
    let uri: string | undefined;
    try {
      uri = await this.#options.uri();
      if (message !== undefined) message.uri = payloadUrl(uri);
      const { lookup, identities, keyCount } = await fetchKeySet(uri, this.#options, message);
      this.#identities = identities;
      this.#lookup = lookup;
      this.#selections.clear();
      this.#generation++;
      this.#loadedAt = this.#now();
      this.#lastFailure = undefined;
      // Only loads not caused by a miss re-arm the immediate refetch; otherwise a flood of random
      // kids would turn every load into the next refetch.
      this.#missRefetchAllowed = trigger !== 'unknown-kid';
      if (message !== undefined) message.keyCount = keyCount;
      events.emit('keys.loaded', { issuer, uri, trigger, keyCount });
      return false;
    } catch (error) {
      this.#lastFailure = error;
      // Known keys keep working only within staleMaxAge; past it every request gets 503, so say so.
      const { cacheMaxAge, staleMaxAge } = this.#options;
      const servingStaleKeys =
        this.#lookup !== undefined && this.#now() - this.#loadedAt < cacheMaxAge + staleMaxAge;
      events.emit('keys.refresh_failed', { issuer, uri, trigger, error, servingStaleKeys });
      return true;
    }
  }
}
