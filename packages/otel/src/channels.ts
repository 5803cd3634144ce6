import { diag } from '@opentelemetry/api';
import { subscribe, tracingChannel, unsubscribe, type TracingChannel } from 'node:diagnostics_channel';

/** The handlers of a tracing channel's events, each given the operation's message. */
export type Handlers<M> = Partial<
  Record<'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error', (message: M) => void>
>;

/**
 * `handler`, never throwing: Node reports an exception of a `diagnostics_channel` subscriber as an
 * uncaught exception (on the next tick, after the publisher carried on), which ends the process by
 * default. A fault in telemetry (an SDK, a span processor or an exporter that throws) must not take
 * the application down, so it goes to OpenTelemetry's diagnostic logger instead, as the API's own
 * no-throw rule has it.
 */
export function guarded<T>(source: string, handler: (message: T) => void): (message: T) => void {
  return (message) => {
    try {
      handler(message);
    } catch (error) {
      diag.error(`${source}: a channel subscriber failed`, error);
    }
  };
}

/**
 * Subscribe `handlers` to the tracing channel `name`; returns the unsubscribe function. Node
 * subscribes only the events given, so the others stay without subscribers and cost their
 * publisher nothing.
 */
export function subscribeTraced<M extends object>(
  source: string,
  name: string,
  handlers: Handlers<M>,
): () => void {
  const traced: TracingChannel<M> = tracingChannel(name);
  const safe: Handlers<M> = {};
  for (const [event, handler] of Object.entries(handlers) as [keyof Handlers<M>, (message: M) => void][]) {
    safe[event] = guarded(source, handler);
  }
  const full = safe as unknown as Parameters<TracingChannel<M>['subscribe']>[0];
  traced.subscribe(full);
  return () => {
    traced.unsubscribe(full);
  };
}

/** Subscribe `listener` to the plain channel `name`; returns the unsubscribe function. */
export function subscribePlain(
  source: string,
  name: string,
  listener: (message: unknown) => void,
): () => void {
  const safe = guarded(source, listener);
  // The module-level functions keep the channel referenced while subscribed.
  subscribe(name, safe);
  return () => {
    unsubscribe(name, safe);
  };
}
