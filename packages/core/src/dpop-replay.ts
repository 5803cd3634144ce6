import { ConfigurationError } from './errors.js';
import { invalid } from './internal/validate.js';

/**
 * Where accepted DPoP proofs are remembered so each is accepted once (RFC 9449 §11.1). One atomic
 * operation: record `key` unless it is there, for `ttlMs`; `true` when it was recorded (a first
 * use), `false` when it was already there (a replay). Share one store between replicas (Redis
 * `SET key 1 NX PX ttl`) so a proof replayed against another replica is caught too; a
 * check-then-set pair (`EXISTS` then `SETEX`) races and is not enough.
 *
 * `partition` is the RFC 7638 thumbprint of the proof key (the token's `cnf.jkt`): the client the
 * proof comes from, for a store that bounds what each client may hold (see
 * {@link MemoryDpopReplayStore}). A store may ignore it; it is never part of `key`'s uniqueness.
 *
 * A store that throws, rejects or does not answer within the guard's `timeout` fails the request
 * with 503 (`ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE`): a proof that cannot be recorded is never
 * accepted. A store that throws {@link DpopProofQuotaError} fails it with 429
 * (`ERR_BEARER_DPOP_PROOF_QUOTA_EXCEEDED`): that client holds too many live proofs.
 */
export interface DpopReplayStore {
  setIfAbsent(key: string, ttlMs: number, partition?: string): boolean | Promise<boolean>;
}

/** Thrown by a replay store that will not record more proofs of this client (`partition`) now. */
export class DpopProofQuotaError extends Error {
  override readonly name = 'DpopProofQuotaError';
  /** Seconds until one of the client's proofs expires and frees room. */
  readonly retryAfter: number;

  constructor(message: string, retryAfter: number) {
    super(message);
    this.retryAfter = retryAfter;
  }
}

/** Options of {@link MemoryDpopReplayStore}. */
export interface MemoryDpopReplayStoreOptions {
  /** Live proofs held in all. Defaults to `100_000`. */
  max?: number | undefined;
  /** Live proofs held per client (proof key). Defaults to `10_000`, at most `max`. */
  maxPerKey?: number | undefined;
}

// A full sweep of expired entries walks the whole map: at most once per this period, so that
// refused requests (a full store, a client at its quota) cannot make each request cost O(max).
const SWEEP_INTERVAL_MS = 1000;

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`MemoryDpopReplayStore ${name}`, value, 'a positive integer (live proofs)');
  }
  return value;
}

/** One client's live proofs: key → expiry (ms), in insertion order (roughly expiry order). */
type Partition = Map<string, number>;

/**
 * The default store: in memory, per process, partitioned by client (the proof key's thumbprint).
 * Each client holds at most `maxPerKey` live proofs, all clients together at most `max`.
 *
 * Fail closed, and fair: a proof is never forgotten while it could be replayed, so a full store
 * refuses to record. A client at its own quota is refused alone (429, `Retry-After` when its
 * oldest proof expires): one holder of a valid DPoP-bound token cannot make everyone's proofs fail
 * by sending fresh ones fast. The cost: a legitimate client is capped at `maxPerKey` proofs per
 * acceptance window (10 000 in 300 s, about 33 requests a second on one key), and filling the
 * whole store (503 for everyone) takes `max / maxPerKey` keys (10), each with its own valid
 * token. Raise `maxPerKey` for busier clients, or use a shared store, which you need behind a load
 * balancer anyway.
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  readonly #partitions = new Map<string, Partition>();
  readonly #sweptAt = new WeakMap<Partition, number>();
  readonly #max: number;
  readonly #maxPerKey: number;
  #size = 0;
  #globalSweptAt = -Infinity;

  constructor(options: number | MemoryDpopReplayStoreOptions = {}) {
    const raw = typeof options === 'number' ? { max: options } : options;
    this.#max = positiveInteger('max', raw.max, 100_000);
    this.#maxPerKey = positiveInteger('maxPerKey', raw.maxPerKey, Math.min(10_000, this.#max));
    if (this.#maxPerKey > this.#max) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        `bearer-guard: \`MemoryDpopReplayStore\` option \`maxPerKey\` (${String(this.#maxPerKey)}) is more than \`max\` (${String(this.#max)}): lower it, or raise \`max\`.`,
      );
    }
  }

  /** Live and not yet swept proofs, in all. */
  get size(): number {
    return this.#size;
  }

  setIfAbsent(key: string, ttlMs: number, partition = '', nowMs: number = Date.now()): boolean {
    let entries = this.#partitions.get(partition);
    const expires = entries?.get(key);
    if (expires !== undefined && expires > nowMs) return false;
    if (expires === undefined) {
      if (entries !== undefined && entries.size >= this.#maxPerKey) this.#sweep(entries, partition, nowMs);
      if (entries !== undefined && entries.size >= this.#maxPerKey) {
        const oldest = Math.min(...this.#firstExpiries(entries));
        throw new DpopProofQuotaError(
          `the client holds ${String(this.#maxPerKey)} live DPoP proofs (maxPerKey)`,
          Math.max(1, Math.ceil((oldest - nowMs) / 1000)),
        );
      }
      if (this.#size >= this.#max && nowMs - this.#globalSweptAt >= SWEEP_INTERVAL_MS) {
        this.#globalSweptAt = nowMs;
        for (const [name, held] of this.#partitions) this.#sweep(held, name, nowMs, true);
      }
      if (this.#size >= this.#max) {
        throw new Error(`the in-memory DPoP replay store is full (${String(this.#max)} live proofs)`);
      }
      if (entries === undefined || !this.#partitions.has(partition)) {
        entries = new Map();
        this.#partitions.set(partition, entries);
      }
      this.#size++;
    } else {
      entries?.delete(key); // expired: re-inserted at the end, so the map stays roughly in expiry order
    }
    entries?.set(key, nowMs + ttlMs);
    return true;
  }

  /**
   * Drop expired entries: from the front (oldest first, amortised O(1)), and the whole partition
   * at most once per {@link SWEEP_INTERVAL_MS} (TTLs differ, so a live entry can front expired ones).
   */
  #sweep(entries: Partition, partition: string, nowMs: number, full = false): void {
    const sweptAt = this.#sweptAt.get(entries) ?? -Infinity;
    const walkAll = full || nowMs - sweptAt >= SWEEP_INTERVAL_MS;
    if (walkAll) this.#sweptAt.set(entries, nowMs);
    for (const [key, until] of entries) {
      if (until <= nowMs) {
        entries.delete(key);
        this.#size--;
      } else if (!walkAll) break;
    }
    if (entries.size === 0) this.#partitions.delete(partition);
  }

  /** The expiries of the first few entries, for a `Retry-After` without walking the partition. */
  *#firstExpiries(entries: Partition): Generator<number> {
    let count = 0;
    for (const until of entries.values()) {
      yield until;
      if (++count === 16) return;
    }
  }
}
