import { subscribe, tracingChannel, unsubscribe, type TracingChannel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import {
  context,
  diag,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableGauge,
  type ObservableResult,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type {
  AuthenticateMessage,
  AuthorizeMessage,
  CircuitStateMessage,
  DiscoveryMessage,
  IntrospectionMessage,
  KeysLoadMessage,
} from '@bearer-guard/core';
import type { TokenRequestMessage } from '@bearer-guard/client';
import { ATTRIBUTES as A, CHANNEL_NAMES, METRICS } from './names.js';

/** Options of {@link BearerGuardInstrumentation}, in the OpenTelemetry `InstrumentationConfig` shape. */
export interface BearerGuardInstrumentationConfig {
  /** Subscribe at construction. Defaults to `true`, as for every OpenTelemetry instrumentation. */
  enabled?: boolean;
}

export const INSTRUMENTATION_NAME = '@bearer-guard/otel';
export const INSTRUMENTATION_VERSION = '0.1.0';

/** Durations are in seconds (OpenTelemetry semantic conventions); buckets for a 100 µs cache hit to a 10 s timeout. */
const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

interface Instruments {
  authentications: Counter;
  authenticationDuration: Histogram;
  authorizations: Counter;
  keysLoads: Counter;
  introspectionDuration: Histogram;
  circuitState: ObservableGauge;
  tokenClientRequests: Counter;
}

/** The handlers of a tracing channel's events, each given the operation's message. */
type Handlers<M> = Partial<
  Record<'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error', (message: M) => void>
>;

/** Attributes without their `undefined` members (OpenTelemetry drops them anyway; exporters differ). */
function attributes(entries: Record<string, string | undefined>): Attributes {
  const result: Attributes = {};
  for (const key in entries) {
    const value = entries[key];
    if (value !== undefined) result[key] = value;
  }
  return result;
}

/**
 * `handler`, never throwing: Node reports an exception of a `diagnostics_channel` subscriber as an
 * uncaught exception (on the next tick, after the publisher carried on), which ends the process by
 * default. A fault in telemetry (an SDK, a span processor or an exporter that throws) must not take
 * the application down, so it goes to OpenTelemetry's diagnostic logger instead, as the API's own
 * no-throw rule has it.
 */
function guarded<T>(handler: (message: T) => void): (message: T) => void {
  return (message) => {
    try {
      handler(message);
    } catch (error) {
      diag.error(`${INSTRUMENTATION_NAME}: a channel subscriber failed`, error);
    }
  };
}

/** `server.address` and `server.port` of a URL the configuration named. */
function server(url: string | undefined): Attributes {
  if (url === undefined) return {};
  try {
    const parsed = new URL(url);
    const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
    return { 'server.address': parsed.hostname, 'server.port': port };
  } catch {
    return {};
  }
}

/** A URL without query or fragment, as `url.full` should be when it might carry a credential. */
function fullUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.search = '';
    parsed.hash = '';
    parsed.username = '';
    parsed.password = '';
    return parsed.href;
  } catch {
    return '';
  }
}

/**
 * The OpenTelemetry instrumentation of bearer-guard: subscribes to the `diagnostics_channel`
 * channels of `@bearer-guard/core` and `@bearer-guard/client` (nothing is patched), and records
 * the metrics of {@link METRICS} and a span per outbound call (discovery, JWKS, introspection,
 * token requests; never one per cache hit).
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
  /** Start time (performance.now) of each authentication and introspection in flight. */
  readonly #started = new WeakMap<object, number>();
  readonly #spans = new WeakMap<object, Span>();
  /** The last known state of each circuit breaker, for the gauge. */
  readonly #circuits = new Map<string, CircuitStateMessage['state']>();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(config: BearerGuardInstrumentationConfig = {}) {
    this.#config = { enabled: true, ...config };
    this.#tracer = trace.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    this.#meter = metrics.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    this.#instruments = this.#createInstruments();
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

  setMeterProvider(provider: MeterProvider): void {
    this.#meter = provider.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    this.#instruments = this.#createInstruments();
  }

  /** Subscribe to the channels. Idempotent. */
  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#config.enabled = true;
    this.#traced<AuthenticateMessage>(CHANNEL_NAMES.authenticate, {
      start: (message) => {
        this.#started.set(message, performance.now());
      },
      // A synchronous answer (a cache hit, or a refusal before any I/O) is complete at `end`.
      end: (message) => {
        if (message.outcome !== undefined) this.#authenticated(message);
      },
      asyncEnd: (message) => {
        this.#authenticated(message);
      },
    });
    this.#plain(CHANNEL_NAMES.authorize, (published) => {
      const message = published as AuthorizeMessage;
      this.#instruments.authorizations.add(
        1,
        attributes({ [A.outcome]: message.outcome, [A.errorType]: message.code, [A.policy]: message.policy }),
      );
    });
    this.#outbound<KeysLoadMessage>(CHANNEL_NAMES.keysLoad, 'keys.load', 'GET', (message) => ({
      url: message.uri,
      issuer: message.issuer,
      failed: message.outcome === 'failed',
      errorType: message.errorType,
      status: undefined,
      record: () => {
        this.#instruments.keysLoads.add(
          1,
          attributes({
            [A.outcome]: message.outcome,
            [A.errorType]: message.errorType,
            [A.trigger]: message.trigger,
            [A.issuer]: message.issuer,
          }),
        );
      },
    }));
    this.#outbound<DiscoveryMessage>(CHANNEL_NAMES.discovery, 'discovery', 'GET', (message) => ({
      url: undefined,
      issuer: message.issuer,
      failed: message.outcome === 'failed',
      errorType: message.errorType,
      status: undefined,
      record: undefined,
    }));
    this.#outbound<IntrospectionMessage>(CHANNEL_NAMES.introspection, 'introspection', 'POST', (message) => ({
      url: message.endpoint,
      issuer: message.issuer,
      failed: message.outcome === 'unavailable',
      errorType: message.reason,
      status: undefined,
      record: (seconds) => {
        this.#instruments.introspectionDuration.record(
          seconds,
          attributes({
            [A.outcome]: message.outcome,
            [A.errorType]: message.reason,
            [A.issuer]: message.issuer,
          }),
        );
      },
    }));
    this.#plain(CHANNEL_NAMES.circuitState, (published) => {
      const message = published as CircuitStateMessage;
      this.#circuits.set(message.name, message.state);
    });
    this.#outbound<TokenRequestMessage>(CHANNEL_NAMES.tokenRequest, 'token_request', 'POST', (message) => ({
      url: message.endpoint,
      issuer: message.issuer,
      failed: message.outcome === 'failed',
      errorType: message.code,
      status: message.status,
      record: () => {
        this.#instruments.tokenClientRequests.add(
          1,
          attributes({
            [A.outcome]: message.outcome,
            [A.errorType]: message.code,
            [A.issuer]: message.issuer,
          }),
        );
      },
    }));
  }

  /** Unsubscribe from every channel. Idempotent. */
  disable(): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#config.enabled = false;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #createInstruments(): Instruments {
    const meter = this.#meter;
    const gauge = meter.createObservableGauge(METRICS.circuitState, {
      description: 'Circuit breaker state: 1 for the state each breaker is in, 0 for the others.',
    });
    gauge.addCallback((result: ObservableResult) => {
      for (const [name, current] of this.#circuits) {
        for (const state of CIRCUIT_STATES) {
          result.observe(state === current ? 1 : 0, { [A.circuit]: name, [A.circuitState]: state });
        }
      }
    });
    return {
      authentications: meter.createCounter(METRICS.authentications, {
        description: 'Authentications of requests with a bearer token, by outcome.',
        unit: '{authentication}',
      }),
      authenticationDuration: meter.createHistogram(METRICS.authenticationDuration, {
        description: 'Duration of authentications, cache hits included.',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }),
      authorizations: meter.createCounter(METRICS.authorizations, {
        description: 'Route-guard decisions (scopes, audience, SMART scopes).',
        unit: '{decision}',
      }),
      keysLoads: meter.createCounter(METRICS.keysLoads, {
        description: 'JWK Set fetches, by trigger and outcome.',
        unit: '{load}',
      }),
      introspectionDuration: meter.createHistogram(METRICS.introspectionDuration, {
        description: 'Duration of calls to the introspection endpoint (RFC 7662).',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }),
      circuitState: gauge,
      tokenClientRequests: meter.createCounter(METRICS.tokenClientRequests, {
        description: 'Token requests of @bearer-guard/client (each retry counts).',
        unit: '{request}',
      }),
    };
  }

  #authenticated(message: AuthenticateMessage): void {
    const started = this.#started.get(message);
    // Begun before `enable()`: its start time is unknown, so it is not recorded at all.
    if (started === undefined) return;
    this.#started.delete(message);
    const labels = attributes({
      [A.outcome]: message.outcome,
      [A.errorType]: message.code,
      [A.tokenSource]: message.source,
      [A.cache]: message.cache,
      [A.binding]: message.binding,
      [A.issuer]: message.issuer,
    });
    this.#instruments.authentications.add(1, labels);
    this.#instruments.authenticationDuration.record((performance.now() - started) / 1000, labels);
  }

  #traced<M extends object>(name: string, handlers: Handlers<M>): void {
    const traced: TracingChannel<M> = tracingChannel(name);
    const safe: Handlers<M> = {};
    for (const [event, handler] of Object.entries(handlers) as [keyof Handlers<M>, (message: M) => void][]) {
      safe[event] = guarded(handler);
    }
    // Node subscribes only the handlers given, so the other events stay without subscribers.
    const full = safe as unknown as Parameters<TracingChannel<M>['subscribe']>[0];
    traced.subscribe(full);
    this.#unsubscribe.push(() => {
      traced.unsubscribe(full);
    });
  }

  #plain(name: string, listener: (message: unknown) => void): void {
    const safe = guarded(listener);
    // The module-level functions keep the channel referenced while subscribed.
    subscribe(name, safe);
    this.#unsubscribe.push(() => {
      unsubscribe(name, safe);
    });
  }

  /**
   * A span per outbound call, in the HTTP client semantic conventions (name = the method, kind
   * client, `url.full`, `server.address`, `server.port`, `error.type`), child of the context that
   * made the call; and the metric of `record`, with the call's duration.
   */
  // M ties `read` to the channel's message type at each call site.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  #outbound<M extends object>(
    name: string,
    operation: string,
    method: 'GET' | 'POST',
    read: (message: M) => {
      url: string | undefined;
      issuer: string | undefined;
      failed: boolean;
      errorType: string | undefined;
      status: number | undefined;
      record: ((seconds: number) => void) | undefined;
    },
  ): void {
    this.#traced<M>(name, {
      start: (message) => {
        this.#started.set(message, performance.now());
        const span = this.#tracer.startSpan(
          method,
          {
            kind: SpanKind.CLIENT,
            attributes: {
              'http.request.method': method,
              [A.operation]: operation,
              ...attributes({ [A.issuer]: read(message).issuer }),
            },
          },
          context.active(),
        );
        this.#spans.set(message, span);
      },
      asyncEnd: (message) => {
        const started = this.#started.get(message);
        this.#started.delete(message);
        const span = this.#spans.get(message);
        this.#spans.delete(message);
        const result = read(message);
        if (started !== undefined) result.record?.((performance.now() - started) / 1000);
        if (span === undefined) return;
        const target = result.url ?? result.issuer;
        if (result.url !== undefined) span.setAttribute('url.full', fullUrl(result.url));
        span.setAttributes(server(target));
        if (result.status !== undefined) span.setAttribute('http.response.status_code', result.status);
        if (result.failed) {
          span.setAttribute(A.errorType, result.errorType ?? '_OTHER');
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      },
    });
  }
}
