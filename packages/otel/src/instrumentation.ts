import {
  metrics,
  trace,
  type Meter,
  type MeterProvider,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { AuthenticateFields, CircuitStateFields } from './messages.js';
import { AuthenticationMetrics } from './authentication.js';
import { subscribePlain, subscribeTraced } from './channels.js';
import { createInstruments, type Instruments } from './instruments.js';
import { CHANNEL_NAMES } from './names.js';
import {
  DISCOVERY,
  INTROSPECTION,
  KEYS_LOAD,
  outboundHandlers,
  TOKEN_REQUEST,
  type OutboundCall,
} from './outbound.js';

/** Options of {@link BearerGuardInstrumentation}, in the OpenTelemetry `InstrumentationConfig` shape. */
export interface BearerGuardInstrumentationConfig {
  /** Subscribe at construction. Defaults to `true`, as for every OpenTelemetry instrumentation. */
  enabled?: boolean;
}

export const INSTRUMENTATION_NAME = '@bearer-guard/otel';
export const INSTRUMENTATION_VERSION = '0.1.0';

/**
 * The OpenTelemetry instrumentation of bearer-guard: subscribes to the `diagnostics_channel`
 * channels of `@bearer-guard/core` and `@bearer-guard/client` (nothing is patched), and records
 * the metrics of {@link METRICS} (authentication.ts, instruments.ts) and a span per outbound call
 * (outbound.ts: discovery, JWKS, introspection, token requests; never one per cache hit).
 *
 * It implements OpenTelemetry's `Instrumentation` interface by hand rather than extending
 * `InstrumentationBase`: that class exists to patch modules as they load, which a channel
 * subscriber does not need, and it would add `@opentelemetry/instrumentation` (and its
 * require-in-the-middle hooks) as a run-time dependency. `@opentelemetry/api` is the only one.
 *
 * @example
 * registerInstrumentations({ instrumentations: [new BearerGuardInstrumentation()] });
 */
export class BearerGuardInstrumentation {
  readonly instrumentationName = INSTRUMENTATION_NAME;
  readonly instrumentationVersion = INSTRUMENTATION_VERSION;
  #config: BearerGuardInstrumentationConfig;
  #enabled = false;
  #tracer: Tracer;
  #meter: Meter;
  #instruments: Instruments;
  readonly #authentications: AuthenticationMetrics;
  /** The last known state of each circuit breaker, for the gauge (kept across meter providers). */
  readonly #circuits = new Map<string, CircuitStateFields['state']>();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(config: BearerGuardInstrumentationConfig = {}) {
    this.#config = { enabled: true, ...config };
    this.#tracer = trace.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    this.#meter = metrics.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    this.#instruments = createInstruments(this.#meter, this.#circuits);
    this.#authentications = new AuthenticationMetrics(this.#instruments);
    if (this.#config.enabled === true) this.enable();
  }

  getConfig(): BearerGuardInstrumentationConfig {
    return { ...this.#config };
  }

  setConfig(config: BearerGuardInstrumentationConfig): void {
    this.#config = { enabled: true, ...config };
  }

  setTracerProvider(provider: TracerProvider): void {
    this.#tracer = provider.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
  }

  /** New instruments, counting from zero: what was counted stays with the previous provider's. */
  setMeterProvider(provider: MeterProvider): void {
    this.#meter = provider.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    this.#instruments = createInstruments(this.#meter, this.#circuits);
    this.#authentications.instruments = this.#instruments;
  }

  /** Subscribe to the channels. Idempotent. */
  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#config.enabled = true;
    const name = INSTRUMENTATION_NAME;
    this.#unsubscribe.push(
      subscribeTraced<AuthenticateFields>(
        name,
        CHANNEL_NAMES.authenticate,
        this.#authentications.authenticate,
      ),
      subscribePlain(name, CHANNEL_NAMES.authorize, this.#authentications.authorize),
      subscribePlain(name, CHANNEL_NAMES.circuitState, (published) => {
        const message = published as CircuitStateFields;
        this.#circuits.set(message.name, message.state);
      }),
      this.#outbound(KEYS_LOAD),
      this.#outbound(DISCOVERY),
      this.#outbound(INTROSPECTION),
      this.#outbound(TOKEN_REQUEST),
    );
  }

  /** Unsubscribe from every channel. Idempotent. */
  disable(): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#config.enabled = false;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #outbound<M extends object>(call: OutboundCall<M>): () => void {
    const handlers = outboundHandlers(
      call,
      () => this.#tracer,
      () => this.#instruments,
    );
    return subscribeTraced(INSTRUMENTATION_NAME, call.channel, handlers);
  }
}
