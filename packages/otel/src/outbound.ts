import { performance } from 'node:perf_hooks';
import {
  context,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Handlers } from './channels.js';
import { errorType, fullUrl, serverAttributes, type Exchange } from './http-attributes.js';
import type { Instruments } from './instruments.js';
import type { DiscoveryFields, IntrospectionFields, KeysLoadFields, TokenRequestFields } from './messages.js';
import { ATTRIBUTES as A, CHANNEL_NAMES } from './names.js';

/** What the spans and metrics of one outbound channel read from its messages. */
export interface OutboundCall<M> {
  channel: string;
  /** `bearer_guard.operation` of its spans. */
  operation: string;
  method: 'GET' | 'POST';
  issuer: (message: M) => string | undefined;
  exchange: (message: M) => Exchange;
  /** The call's metric, given its duration in seconds. */
  record?: (instruments: Instruments, message: M, seconds: number) => void;
}

/** The outbound calls of `@bearer-guard/core` and `@bearer-guard/client`, by channel. */
export const KEYS_LOAD: OutboundCall<KeysLoadFields> = {
  channel: CHANNEL_NAMES.keysLoad,
  operation: 'keys.load',
  method: 'GET',
  issuer: (message) => message.issuer,
  exchange: (message) => ({
    url: message.uri,
    failed: message.outcome === 'failed',
    errorType: message.errorType,
    status: message.status,
  }),
  record: (instruments, message) => {
    instruments.keysLoads.add(message.outcome, message.errorType, message.trigger, message.issuer);
  },
};

export const DISCOVERY: OutboundCall<DiscoveryFields> = {
  channel: CHANNEL_NAMES.discovery,
  operation: 'discovery',
  method: 'GET',
  issuer: (message) => message.issuer,
  exchange: (message) => ({
    url: message.url,
    failed: message.outcome === 'failed',
    errorType: message.errorType,
    status: message.status,
  }),
};

export const INTROSPECTION: OutboundCall<IntrospectionFields> = {
  channel: CHANNEL_NAMES.introspection,
  operation: 'introspection',
  method: 'POST',
  issuer: (message) => message.issuer,
  exchange: (message) => ({
    url: message.endpoint,
    failed: message.outcome === 'unavailable',
    errorType: message.reason,
    status: message.status,
  }),
  record: (instruments, message, seconds) => {
    // One per call to the endpoint (a cache hit makes none): an attribute object per call is fine.
    const attributes: Attributes = { [A.issuer]: message.issuer };
    if (message.outcome !== undefined) attributes[A.outcome] = message.outcome;
    if (message.reason !== undefined) attributes[A.errorType] = message.reason;
    instruments.introspectionDuration.record(seconds, attributes);
  },
};

export const TOKEN_REQUEST: OutboundCall<TokenRequestFields> = {
  channel: CHANNEL_NAMES.tokenRequest,
  operation: 'token_request',
  method: 'POST',
  issuer: (message) => message.issuer,
  exchange: (message) => ({
    url: message.endpoint,
    failed: message.outcome === 'failed',
    errorType: message.code,
    status: message.status,
  }),
  record: (instruments, message) => {
    instruments.tokenClientRequests.add(message.outcome, message.code, message.issuer);
  },
};

/**
 * A span per outbound call, in the HTTP client semantic conventions: named after the method, kind
 * client, child of the context that made the call, with `http.request.method`, `server.address`,
 * `server.port`, `url.full`, `http.response.status_code` and, for a failure or a 4xx/5xx answer,
 * status ERROR and `error.type` (http-attributes.ts). A discovery that falls back to the OpenID
 * Connect location is one span, with the last request's URL and status. Then the call's metric.
 */
export function outboundHandlers<M extends object>(
  call: OutboundCall<M>,
  tracer: () => Tracer,
  instruments: () => Instruments,
): Handlers<M> {
  const started = new WeakMap<M, number>();
  const spans = new WeakMap<M, Span>();
  return {
    start: (message) => {
      started.set(message, performance.now());
      const issuer = call.issuer(message);
      const { url } = call.exchange(message);
      const span = tracer().startSpan(
        call.method,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'http.request.method': call.method,
            [A.operation]: call.operation,
            ...(issuer === undefined ? {} : { [A.issuer]: issuer }),
            ...serverAttributes(url ?? issuer),
          },
        },
        context.active(),
      );
      spans.set(message, span);
    },
    asyncEnd: (message) => {
      const start = started.get(message);
      started.delete(message);
      const span = spans.get(message);
      spans.delete(message);
      if (start !== undefined) call.record?.(instruments(), message, (performance.now() - start) / 1000);
      if (span === undefined) return;
      const exchange = call.exchange(message);
      const url = exchange.url === undefined ? undefined : fullUrl(exchange.url);
      if (url !== undefined) span.setAttribute('url.full', url);
      span.setAttributes(serverAttributes(exchange.url ?? call.issuer(message)));
      if (exchange.status !== undefined) span.setAttribute('http.response.status_code', exchange.status);
      const type = errorType(exchange);
      if (type !== undefined) {
        span.setAttribute(A.errorType, type);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}
