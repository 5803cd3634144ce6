import { circuitStateChannel, type CircuitStateMessage } from './diagnostics.js';
import type { GuardEvents } from './events.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit fails fast before letting one probe through, in ms. */
  cooldown: number;
  /** What the circuit protects, for events. */
  name: string;
  events: GuardEvents;
  now?: () => number;
}

/**
 * Fail fast while a dependency is down. After `failureThreshold` consecutive failures the circuit
 * opens: calls are refused without touching the network for `cooldown` ms. Then one probe goes
 * through (half-open); its success closes the circuit, its failure opens it for another cooldown.
 * A call whose outcome says nothing about the dependency's health is {@link release}d instead: it
 * frees the probe slot and changes nothing else.
 */
export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #now: () => number;
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(options: CircuitBreakerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** Milliseconds until an open circuit lets a probe through (0 when closed). */
  get retryIn(): number {
    return this.#state === 'closed' ? 0 : Math.max(0, this.#openedAt + this.#options.cooldown - this.#now());
  }

  /** Whether a call may go out now. In half-open state only one probe at a time may. */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.retryIn > 0) return false;
      this.#transition('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#transition('closed');
  }

  /**
   * A call that neither proves the dependency healthy nor counts against it (e.g. an answer that is
   * about the request itself): free the half-open probe slot so the next call can probe, and
   * leave the state and the failure count as they are.
   */
  release(): void {
    this.#probing = false;
  }

  failure(): void {
    this.#failures += 1;
    this.#probing = false;
    if (
      this.#state === 'half-open' ||
      (this.#state === 'closed' && this.#failures >= this.#options.failureThreshold)
    ) {
      this.#openedAt = this.#now();
      this.#transition('open');
    }
  }

  #transition(state: CircuitState): void {
    this.#state = state;
    if (circuitStateChannel.hasSubscribers) {
      const message: CircuitStateMessage = {
        name: this.#options.name,
        state,
        consecutiveFailures: this.#failures,
      };
      circuitStateChannel.publish(message);
    }
    this.#options.events.emit('circuit.state', {
      name: this.#options.name,
      state,
      consecutiveFailures: this.#failures,
    });
  }
}
