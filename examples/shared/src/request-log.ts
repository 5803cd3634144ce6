import { randomUUID } from 'node:crypto';
import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Context,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { RequestHandler } from 'express';
import { pino, type Logger } from 'pino';

const REQUEST_ID = createContextKey('bearer-guard example request id');
/** An incoming `x-request-id` is kept only when it is a short token: it goes into logs and headers. */
const REQUEST_ID_SHAPE = /^[\w.-]{1,64}$/;

let installed = false;

/**
 * W3C Trace Context (`traceparent`) for the example services: an OpenTelemetry tracer provider
 * with the AsyncLocalStorage context manager and the W3C propagator, registered once per process.
 * Spans are not exported anywhere (add an exporter to see them); what matters here is the trace id,
 * which every service takes from the caller's `traceparent`, so one gateway request is one trace
 * across gateway, orders and FHIR, and which every log line carries.
 */
function installTracing(): void {
  if (installed) return;
  installed = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider());
}

/**
 * One JSON log line (pino) per request, when its answer is sent: service, request id (the caller's
 * `x-request-id` or a new one, echoed in the response), trace and span ids, method, the matched
 * route pattern (never the path: it may hold a patient id), status and duration. Never a header
 * value, a token or a query. Runs the rest of the request in a server span whose parent is the
 * caller's `traceparent`, or, with `trustTraceparent: false`, in a new trace linked to it.
 *
 * `trustTraceparent: false` is for a service at the trust boundary (the gateway): a caller on the
 * internet must not choose the trace id its request is filed under (joining or polluting someone
 * else's trace) nor its `sampled` flag (W3C Trace Context §8, "Privacy" and "Security"
 * considerations: restart the trace at the boundary). Its context is kept as a span link, so a
 * client's own trace can still be followed across.
 */
export function requestLogging(
  service: string,
  {
    logger = pino({ base: { service } }),
    trustTraceparent = true,
  }: { logger?: Logger; trustTraceparent?: boolean } = {},
): RequestHandler {
  installTracing();
  const tracer = trace.getTracer('@bearer-guard/example-shared');
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId =
      typeof incoming === 'string' && REQUEST_ID_SHAPE.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    const caller = propagation.extract(ROOT_CONTEXT, req.headers);
    const callerSpan = trace.getSpanContext(caller);
    const parent = trustTraceparent ? caller : ROOT_CONTEXT;
    const links = !trustTraceparent && callerSpan !== undefined ? [{ context: callerSpan }] : [];
    const span = tracer.startSpan(req.method, { kind: SpanKind.SERVER, links }, parent);
    const active: Context = trace.setSpan(parent, span).setValue(REQUEST_ID, requestId);
    const started = performance.now();
    res.once('finish', () => {
      const route = (req.route as { path?: unknown } | undefined)?.path;
      span.setAttribute('http.response.status_code', res.statusCode);
      span.end();
      const { traceId, spanId } = span.spanContext();
      logger.info(
        {
          req_id: requestId,
          trace_id: traceId,
          span_id: spanId,
          method: req.method,
          route: typeof route === 'string' ? route : undefined,
          status: res.statusCode,
          duration_ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    });
    context.with(active, next);
  };
}

/**
 * The headers that carry the current request's trace (`traceparent`, `tracestate`) and request id
 * to a backend call.
 */
export function propagationHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const active = context.active();
  propagation.inject(active, headers);
  const requestId = active.getValue(REQUEST_ID);
  if (typeof requestId === 'string') headers['x-request-id'] = requestId;
  return headers;
}
