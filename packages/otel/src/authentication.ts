import { performance } from 'node:perf_hooks';
import type {
  AuthenticateFields as AuthenticateMessage,
  AuthorizeFields as AuthorizeMessage,
} from './messages.js';
import type { Handlers } from './channels.js';
import type { Instruments } from './instruments.js';

/**
 * The metrics of `bearer-guard:authenticate` and `bearer-guard:authorize`: a count and a duration
 * per authentication, a count per route-guard decision. No span: a cache hit would cost one per
 * request.
 *
 * The cached path is what this must keep cheap. A cached answer is published as `start` then `end`
 * in one synchronous call, so its start time waits in two fields rather than in a `WeakMap` (whose
 * entries are ephemerons the garbage collector visits specially); only an authentication still
 * pending at `end` moves its start time there, for `asyncEnd`. The attribute set comes from a
 * tally (tally.ts): built once per combination, so the histogram's `record` is given the same
 * frozen object every time.
 */
export class AuthenticationMetrics {
  /** Swapped by `setMeterProvider`. */
  instruments: Instruments;
  /** The authentication whose `start` came last and has not ended, and its start time. */
  #current: AuthenticateMessage | undefined;
  #currentStart = 0;
  /** Start times of authentications still pending after `end`. */
  readonly #pending = new WeakMap<AuthenticateMessage, number>();

  constructor(instruments: Instruments) {
    this.instruments = instruments;
  }

  readonly authenticate: Handlers<AuthenticateMessage> = {
    start: (message) => {
      // Another one started and has not ended: keep its start (not seen in practice; a start
      // publishes nothing else before its end).
      if (this.#current !== undefined) this.#pending.set(this.#current, this.#currentStart);
      this.#current = message;
      this.#currentStart = performance.now();
    },
    end: (message) => {
      let started: number | undefined;
      if (message === this.#current) {
        started = this.#currentStart;
        this.#current = undefined;
      } else {
        started = this.#pending.get(message);
        this.#pending.delete(message);
      }
      // Begun before `enable()`: its start time is unknown, so it is not recorded at all.
      if (started === undefined) return;
      // A synchronous answer (a cache hit, or a refusal before any I/O) is complete at `end`.
      if (message.outcome !== undefined) this.#record(message, started);
      else this.#pending.set(message, started);
    },
    asyncEnd: (message) => {
      const started = this.#pending.get(message);
      if (started === undefined) return;
      this.#pending.delete(message);
      this.#record(message, started);
    },
  };

  readonly authorize = (published: unknown): void => {
    const message = published as AuthorizeMessage;
    this.instruments.authorizations.add(message.outcome, message.code, message.policy);
  };

  #record(message: AuthenticateMessage, started: number): void {
    const { authentications, authenticationDuration } = this.instruments;
    // In the order of AUTHENTICATION_ATTRIBUTES.
    const cell = authentications.cell(
      message.outcome,
      message.code,
      message.source,
      message.cache,
      message.binding,
      message.issuer,
    );
    cell.count++;
    authenticationDuration.record((performance.now() - started) / 1000, cell.attributes);
  }
}
