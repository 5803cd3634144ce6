import { MemoryDpopReplayStore, type DpopReplayStore } from '@bearer-guard/core';

import {
  listenerOption,
  integerOption,
  invalid,
  optionsObject,
  stringOption,
  type KeysEnum,
} from './options.js';
import {
  breakerOptions,
  dispatcher,
  RedisCommands,
  type RedisBreakerOptions,
  type RedisClientLike,
} from './redis-command.js';
import { report, RedisStoreError, type RedisStoreErrorEvent } from './store-error.js';

/** What the replay store does when Redis fails: refuse the request (503), or remember proofs in this replica only. */
export type ReplayStoreUnavailablePolicy = 'fail' | 'local';

export interface RedisReplayStoreOptions {
  /** A node-redis client, an ioredis client, or `{ sendCommand(args: string[]): Promise<unknown> }`. */
  client: RedisClientLike;
  /** Prepended to the guard's key (`<keyPrefix>bg:dpop:v1:<SHA-256>`). Defaults to `'bg:'`. */
  keyPrefix?: string;
  /** The deadline of each Redis command, in ms. Defaults to `250`. */
  timeout?: number;
  /**
   * When Redis fails: `'fail'` (the default) lets the guard answer 503, so no proof is accepted
   * unrecorded. `'local'` records proofs in this replica's memory meanwhile and accepts them: weaker,
   * since Redis never learns of them: replayed to another replica (during the outage or after it,
   * for the rest of the proof's window), such a proof passes.
   */
  onUnavailable?: ReplayStoreUnavailablePolicy;
  /** The most proofs the `'local'` fallback remembers (full: 503). Defaults to `100000`. */
  localMax?: number;
  /** The circuit breaker, or `false` for none. Defaults to `{ failureThreshold: 3, cooldown: 1000 }`. */
  breaker?: RedisBreakerOptions | false;
  /**
   * Told of every failed command, with `fallback: true` when the proof was recorded locally instead.
   * With `onUnavailable: 'local'` and no `onError`, a process warning (`BEARER_GUARD_REDIS_FALLBACK`)
   * says when the fallback starts; it says so again after Redis answered.
   */
  onError?: (event: RedisStoreErrorEvent) => void;
}

const KEYS: KeysEnum<RedisReplayStoreOptions> = {
  client: true,
  keyPrefix: true,
  timeout: true,
  onUnavailable: true,
  localMax: true,
  breaker: true,
  onError: true,
};

const PATH = 'redisReplayStore';

/**
 * The DPoP replay store shared by replicas (RFC 9449 §11.1): one atomic `SET key 1 NX PX ttl` per
 * proof, so of any number of concurrent uses of one proof on any number of replicas exactly one is
 * recorded and accepted. (`EXISTS` then `SET` would race.) The key is the guard's, a SHA-256 of the
 * proof key's thumbprint, `htu` and `jti`: it holds no token.
 */
export class RedisReplayStore implements DpopReplayStore {
  readonly #commands: RedisCommands;
  readonly #prefix: string;
  readonly #local: MemoryDpopReplayStore | undefined;
  readonly #onError: ((event: RedisStoreErrorEvent) => void) | undefined;
  /** Until when (epoch ms) proofs recorded by the fallback may still be replayed. */
  #localUntil = 0;
  #warned = false;

  constructor(options: RedisReplayStoreOptions) {
    const raw = optionsObject(PATH, options, KEYS);
    const dispatch = dispatcher(`${PATH}.client`, raw['client']);
    this.#prefix = stringOption(`${PATH}.keyPrefix`, raw['keyPrefix'], 'bg:');
    const timeout = integerOption(`${PATH}.timeout`, raw['timeout'], 250, {
      min: 1,
      max: 60_000,
      unit: 'ms',
    });
    const policy = raw['onUnavailable'] ?? 'fail';
    if (policy !== 'fail' && policy !== 'local')
      throw invalid(`${PATH}.onUnavailable`, policy, "`'fail'` or `'local'`");
    const localMax = integerOption(`${PATH}.localMax`, raw['localMax'], 100_000, {
      min: 1,
      max: 10_000_000,
      unit: 'proofs',
    });
    this.#local = policy === 'local' ? new MemoryDpopReplayStore(localMax) : undefined;
    this.#onError = listenerOption(`${PATH}.onError`, raw['onError']);
    this.#commands = new RedisCommands(dispatch, timeout, breakerOptions(`${PATH}.breaker`, raw['breaker']));
  }

  /** The state of the circuit breaker (`closed` while Redis answers). */
  get circuitState(): RedisCommands['circuitState'] {
    return this.#commands.circuitState;
  }

  async setIfAbsent(key: string, ttlMs: number): Promise<boolean> {
    // Whole milliseconds, rounded up: a proof is remembered for at least as long as asked.
    const px = Math.max(1, Math.ceil(ttlMs));
    let recorded: boolean;
    try {
      const raw = await this.#commands.send(['SET', this.#prefix + key, '1', 'NX', 'PX', String(px)]);
      // A client set up for binary replies answers `OK` as bytes.
      const reply = raw instanceof Uint8Array ? Buffer.from(raw).toString('latin1') : raw;
      if (reply !== 'OK' && reply !== null) {
        throw new RedisStoreError('ERR_BEARER_REDIS_INVALID_REPLY', 'SET NX answered neither OK nor nil');
      }
      recorded = reply === 'OK';
    } catch (error) {
      return this.#unavailable(key, px, error as RedisStoreError);
    }
    this.#warned = false;
    // A proof the fallback accepted during an outage is unknown to Redis: still refuse its replays here.
    if (recorded && this.#local !== undefined && Date.now() < this.#localUntil) {
      try {
        return this.#local.setIfAbsent(key, px);
      } catch {
        return true; // the fallback is full: Redis has it recorded
      }
    }
    return recorded;
  }

  /** `'fail'`: reject (the guard answers 503). `'local'`: this replica's memory answers, and it is said. */
  #unavailable(key: string, px: number, error: RedisStoreError): boolean {
    const local = this.#local;
    report(this.#onError, {
      store: 'dpop-replay',
      operation: 'setIfAbsent',
      error,
      fallback: local !== undefined,
    });
    if (local === undefined) throw error;
    if (this.#onError === undefined && !this.#warned) {
      this.#warned = true;
      process.emitWarning(
        `bearer-guard: Redis is unavailable (${error.code}); DPoP proofs are checked for replay by this replica only until it answers again`,
        { code: 'BEARER_GUARD_REDIS_FALLBACK' },
      );
    }
    this.#localUntil = Math.max(this.#localUntil, Date.now() + px);
    return local.setIfAbsent(key, px); // throws when full: 503
  }
}

/**
 * A {@link RedisReplayStore}: pass it as `dpop.replayStore`.
 *
 * @example
 * ```ts
 * app.use(authenticate({ issuer, audience, dpop: { replayStore: redisReplayStore({ client: redis }) } }));
 * ```
 * @see RFC 9449 §11.1
 */
export function redisReplayStore(options: RedisReplayStoreOptions): RedisReplayStore {
  return new RedisReplayStore(options);
}
