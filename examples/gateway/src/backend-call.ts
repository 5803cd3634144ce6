import { isTokenRequestError } from '@bearer-guard/client';
import { propagationHeaders } from '@bearer-guard/example-shared';

/** The backends the gateway calls, as named in `unavailable` entries. */
export type BackendService = 'orders' | 'fhir';

/** Why a backend's part of an answer is missing. */
export type UnavailableReason = 'timeout' | 'unavailable' | 'error';

/**
 * What the gateway needs from a token client: a `fetch` that attaches the gateway's own bearer
 * token. `TokenClient` from `@bearer-guard/client` is one; tests may pass a fake.
 */
export interface BackendClient {
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

/** Where the gateway reports backend failures. Defaults to one JSON line on stderr. */
export interface GatewayLogger {
  warn(message: string, details: Record<string, unknown>): void;
}

/** The result of one backend call; never a rejection. */
export type CallOutcome =
  | { readonly kind: 'ok'; readonly body: unknown }
  | { readonly kind: 'not_found' }
  | {
      readonly kind: 'failed';
      readonly reason: UnavailableReason;
      readonly status?: number | undefined;
    };

export interface CallOptions {
  service: BackendService;
  /**
   * What is called, for logs, e.g. `GET /Patient/{id}`. Logs get this label rather than the URL, so
   * patient ids (personal data) stay out of them.
   */
  operation: string;
  /** The `accept` header: `application/json` or `application/fhir+json`. */
  accept: string;
  /** Deadline of the whole call (token, request and body), in ms. */
  timeoutMs: number;
  logger: GatewayLogger;
  /** Where the request's connection goes (the backend's replicas, in turn); the URL's host otherwise. */
  dispatcher?: RequestInit['dispatcher'] | undefined;
}

/**
 * Settle with `work`, or reject with the signal's reason once it aborts. The token client may not
 * pass our signal on to its own token request, so the deadline is enforced here as well.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new Error('deadline passed', { cause: signal.reason }));
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
    });
  });
}

// 429 and the gateway statuses say "try later"; any other 5xx is the backend's own fault.
const UNAVAILABLE_STATUSES = new Set([429, 502, 503, 504]);

async function exchange(
  client: BackendClient,
  url: string,
  options: CallOptions,
  signal: AbortSignal,
): Promise<CallOutcome> {
  const response = await client.fetch(url, {
    // One trace across gateway and backends (W3C Trace Context), and the caller's request id.
    headers: { ...propagationHeaders(), accept: options.accept },
    redirect: 'manual',
    signal,
    ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
  });
  const { status } = response;
  if (status >= 200 && status < 300) {
    if (!/\bjson\b/i.test(response.headers.get('content-type') ?? '')) {
      await response.body?.cancel();
      options.logger.warn('backend answered without JSON', {
        service: options.service,
        operation: options.operation,
        status,
      });
      return { kind: 'failed', reason: 'error', status };
    }
    try {
      return { kind: 'ok', body: await response.json() };
    } catch (error) {
      if (signal.aborted) throw error;
      options.logger.warn('backend answered unparsable JSON', {
        service: options.service,
        operation: options.operation,
        status,
      });
      return { kind: 'failed', reason: 'error', status };
    }
  }
  await response.body?.cancel();
  if (status === 404) return { kind: 'not_found' };
  if (status === 401 || status === 403) {
    // Our own token was refused: a misconfiguration (client registration, scope or resource), not
    // the caller's fault, so it degrades like an outage instead of surfacing as 401/403.
    options.logger.warn('backend refused the gateway token; check its client registration', {
      service: options.service,
      operation: options.operation,
      status,
      challenge: response.headers.get('www-authenticate'),
    });
    return { kind: 'failed', reason: 'error', status };
  }
  const reason = UNAVAILABLE_STATUSES.has(status) ? 'unavailable' : 'error';
  options.logger.warn('backend call failed', {
    service: options.service,
    operation: options.operation,
    status,
    reason,
  });
  return { kind: 'failed', reason, status };
}

/**
 * Call one backend with the gateway's own token, within `timeoutMs` for everything (the token
 * request included). The caller's token is never sent: `client` attaches the gateway's. Every
 * failure becomes an outcome, so parallel calls can be merged without `Promise.allSettled`.
 */
export async function callBackend(
  client: BackendClient,
  url: string,
  options: CallOptions,
): Promise<CallOutcome> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const { service, operation, logger } = options;
  try {
    return await untilAborted(exchange(client, url, options, signal), signal);
  } catch (error) {
    if (signal.aborted) {
      logger.warn('backend call timed out', { service, operation, timeoutMs: options.timeoutMs });
      return { kind: 'failed', reason: 'timeout' };
    }
    if (isTokenRequestError(error)) {
      // No token, so no call: the authorization server is down (`unavailable`) or refused the
      // gateway's credentials (`error`, a misconfiguration).
      const reason = error.retryable ? 'unavailable' : 'error';
      logger.warn('no token for the backend call', {
        service,
        operation,
        reason,
        code: error.code,
        error: error.error,
      });
      return { kind: 'failed', reason };
    }
    logger.warn('backend unreachable', { service, operation, error: describe(error) });
    return { kind: 'failed', reason: 'unavailable' };
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { cause } = error;
  const code = cause instanceof Error && 'code' in cause ? String(cause.code) : undefined;
  return code === undefined ? error.message : `${error.message} (${code})`;
}
