import { ConfigurationError } from '@bearer-guard/core';

import { integerOption, invalid, isPlainObject, missing, optionsObject, type KeysEnum } from './options.js';
import { RedisStoreError } from './store-error.js';

/**
 * The least a client must offer: one call per command, its arguments as strings (`['SET', key,
 * '1', 'NX', 'PX', '1000']`), answering the reply. node-redis clients have it as they are;
 * `options.abortSignal` is aborted at the store's deadline (node-redis then drops a command still
 * queued while it reconnects).
 */
export interface SendCommandClient {
  sendCommand(args: string[], options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** An ioredis client (`new Redis()`, v5 or v6): commands go through `call(name, ...args)`. */
export interface IoredisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  readonly status: string;
}

/** A node-redis client (`createClient()`, v5 or v6), an ioredis client, or any `{ sendCommand(args) }`. */
export type RedisClientLike = SendCommandClient | IoredisClient;

/** The stores' circuit breaker: after `failureThreshold` consecutive failures, fail fast for `cooldown` ms. */
export interface RedisBreakerOptions {
  /** Consecutive failed commands that open the circuit. Defaults to `3`. */
  failureThreshold?: number;
  /** How long an open circuit fails fast before one command probes Redis again, in ms. Defaults to `1000`. */
  cooldown?: number;
}

const BREAKER_KEYS: KeysEnum<RedisBreakerOptions> = { failureThreshold: true, cooldown: true };

type Dispatch = (args: string[], signal: AbortSignal) => Promise<unknown>;

const CLIENT_HELP =
  'a node-redis client (`await createClient().connect()`), an ioredis client (`new Redis()`) or ' +
  '`{ sendCommand(args: string[]): Promise<unknown> }`';

/**
 * How to send a command with `client`, decided once at construction. ioredis first: it also has a
 * `sendCommand`, which takes one of its own `Command` objects and not an array. node-redis cluster
 * and sentinel clients take extra leading arguments and are refused with the wrapper to write.
 */
export function dispatcher(path: string, client: unknown): Dispatch {
  if (client === undefined) throw missing(path, CLIENT_HELP);
  if (typeof client !== 'object' || client === null) throw invalid(path, client, CLIENT_HELP);
  const candidate = client as Record<string, unknown>;
  if (typeof candidate['call'] === 'function' && typeof candidate['status'] === 'string') {
    const io = client as IoredisClient;
    return (args) => io.call(args[0] ?? '', ...args.slice(1));
  }
  if (typeof candidate['sendCommand'] !== 'function') throw invalid(path, client, CLIENT_HELP);
  const routed =
    typeof candidate['getSlotRandomNode'] === 'function'
      ? 'a node-redis cluster client; pass `{ sendCommand: (args) => cluster.sendCommand(args[1], false, args) }`'
      : typeof candidate['getMasterNode'] === 'function'
        ? 'a node-redis sentinel client; pass `{ sendCommand: (args) => sentinel.sendCommand(false, args) }`'
        : undefined;
  if (routed !== undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      `bearer-guard: option \`${path}\` is ${routed} (every command of these stores has one key, args[1]).`,
    );
  }
  const plain = client as SendCommandClient;
  return (args, signal) => plain.sendCommand(args, { abortSignal: signal });
}

/** The breaker's options, or `undefined` for `false` (no breaker). */
export function breakerOptions(path: string, value: unknown): Required<RedisBreakerOptions> | undefined {
  if (value === false) return undefined;
  if (value !== undefined && !isPlainObject(value))
    throw invalid(path, value, '`false` or an options object');
  const options = value === undefined ? {} : optionsObject(path, value, BREAKER_KEYS);
  return {
    failureThreshold: integerOption(`${path}.failureThreshold`, options['failureThreshold'], 3, {
      min: 1,
      max: 1000,
      unit: 'consecutive failures',
    }),
    cooldown: integerOption(`${path}.cooldown`, options['cooldown'], 1000, {
      min: 1,
      max: 60_000,
      unit: 'ms',
    }),
  };
}

/**
 * Commands to Redis with a deadline each and a circuit breaker. A command that does not answer
 * within `timeout` rejects then, whatever the client does (node-redis and ioredis queue commands
 * while they reconnect: without a deadline of ours a request would wait for the reconnection).
 * After `failureThreshold` consecutive failures the circuit opens and commands fail at once for
 * `cooldown` ms, so a dead Redis costs no deadline per request; then one command probes, and its
 * success closes the circuit. Recovery needs nothing else.
 */
export class RedisCommands {
  readonly #dispatch: Dispatch;
  readonly #timeout: number;
  readonly #breaker: Required<RedisBreakerOptions> | undefined;
  #failures = 0;
  #openUntil = 0;
  #probing = false;

  constructor(dispatch: Dispatch, timeout: number, breaker: Required<RedisBreakerOptions> | undefined) {
    this.#dispatch = dispatch;
    this.#timeout = timeout;
    this.#breaker = breaker;
  }

  /** `closed` (commands go out), `open` (failing fast) or `half-open` (one probe may go out). */
  get circuitState(): 'closed' | 'open' | 'half-open' {
    if (this.#breaker === undefined || this.#failures < this.#breaker.failureThreshold) return 'closed';
    return Date.now() < this.#openUntil ? 'open' : 'half-open';
  }

  /** Send `args`; rejects with a {@link RedisStoreError} on a timeout, an open circuit or a client error. */
  async send(args: string[]): Promise<unknown> {
    const probe = this.#admit();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new RedisStoreError(
            'ERR_BEARER_REDIS_TIMEOUT',
            `Redis did not answer ${args[0] ?? ''} within ${String(this.#timeout)} ms`,
          ),
        );
        // After the rejection: node-redis rejects an aborted command at once, and the race must
        // settle on the timeout, not on the abort it caused.
        controller.abort();
      }, this.#timeout);
    });
    try {
      const reply = await Promise.race([this.#sent(args, controller.signal), deadline]);
      this.#failures = 0;
      return reply;
    } catch (error) {
      this.#failed();
      if (error instanceof RedisStoreError) throw error;
      throw new RedisStoreError('ERR_BEARER_REDIS_COMMAND_FAILED', `Redis ${args[0] ?? ''} failed`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
      if (probe) this.#probing = false;
    }
  }

  /** Whether this command is the half-open probe; throws when the circuit refuses it. */
  #admit(): boolean {
    const state = this.circuitState;
    if (state === 'closed') return false;
    if (state === 'half-open' && !this.#probing) {
      this.#probing = true;
      return true;
    }
    throw new RedisStoreError(
      'ERR_BEARER_REDIS_CIRCUIT_OPEN',
      `Redis failed ${String(this.#failures)} commands in a row: not sent while the circuit is open`,
    );
  }

  #failed(): void {
    this.#failures += 1;
    const breaker = this.#breaker;
    if (breaker !== undefined && this.#failures >= breaker.failureThreshold) {
      this.#openUntil = Date.now() + breaker.cooldown;
    }
  }

  /** The client's answer as a promise, even when the client throws synchronously. */
  #sent(args: string[], signal: AbortSignal): Promise<unknown> {
    try {
      return Promise.resolve(this.#dispatch(args, signal));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** A bulk-string reply as text: node-redis and ioredis answer strings, or Buffers with a type mapping. */
export function replyText(reply: unknown): string | null | undefined {
  if (reply === null || typeof reply === 'string') return reply;
  if (reply instanceof Uint8Array)
    return Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength).toString('utf8');
  return undefined;
}
