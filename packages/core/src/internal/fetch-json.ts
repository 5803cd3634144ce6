/**
 * The one outbound HTTP helper for metadata and key sets: a deadline for the whole call
 * (`AbortSignal.timeout`, not a socket idle timer), no redirects, a size cap on the body, and a
 * JSON content-type check. Every failure is an `UpstreamError` whose `reason` says what went wrong
 * and whose message says why in an operator's words (`connect ECONNREFUSED 127.0.0.1:4321`,
 * `getaddrinfo ENOTFOUND as.example`, `timed out after 5000 ms`, `HTTP 500`): it is what `ready()`,
 * the `keys.refresh_failed` / `discovery.failed` events and the error handler's log line show.
 */

export type UpstreamFailure =
  'timeout' | 'network' | 'redirect' | 'status' | 'content-type' | 'too-large' | 'invalid-json';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly reason: UpstreamFailure,
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${url}: ${message}`, options);
  }
}

/**
 * Told of each request's URL as it is sent (`status` undefined), then of the HTTP status of its
 * answer when one arrives: how a traced call fills in its diagnostics message (url, status). Only
 * the traced paths pass one.
 */
export type ExchangeObserver = (url: string, status: number | undefined) => void;

/** The limits of one outbound call, and who is told of its URL and status. */
export interface FetchLimits {
  /** Deadline for the whole exchange, body included, in milliseconds. */
  timeout: number;
  /** Largest accepted body, in bytes. */
  maxBytes: number;
  observe?: ExchangeObserver | undefined;
}

export interface FetchJsonOptions extends FetchLimits {
  /** Accepted media types besides `application/json` (e.g. `application/jwk-set+json`). */
  accept?: readonly string[];
}

/** The media type of a Content-Type value, lower-cased and without parameters (RFC 9110 §8.3.1). */
export function mediaType(contentType: string | null): string {
  return contentType?.split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

function isJsonType(contentType: string | null, accepted: readonly string[]): boolean {
  const type = mediaType(contentType);
  return type === 'application/json' || accepted.includes(type);
}

async function readCapped(response: Response, url: string, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new UpstreamError(
      'too-large',
      url,
      `response of ${String(declared)} bytes exceeds ${String(maxBytes)}`,
    );
  }
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new UpstreamError('too-large', url, `response exceeds ${String(maxBytes)} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A Node system error (`ECONNREFUSED`, `ENOTFOUND`, …) or an undici one (`UND_ERR_SOCKET`, …). */
type CodedError = Error & { code: string };

function isCoded(value: unknown): value is CodedError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === 'string';
}

/**
 * What a network failure was. undici's `fetch` rejects with `TypeError: fetch failed` and keeps the
 * real error in `cause`: a system error such as `connect ECONNREFUSED 127.0.0.1:4321`, or an
 * `AggregateError` with one such error per address tried (its own message is empty).
 */
function networkFailure(error: unknown): { detail: string; cause: unknown } {
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (!(inner instanceof Error)) return { detail: `request failed (${String(inner)})`, cause: error };
  const messages =
    inner.message === '' && inner instanceof AggregateError
      ? (inner.errors as unknown[]).map((each) => (each instanceof Error ? each.message : String(each)))
      : [inner.message];
  let detail = [...new Set(messages.filter((message) => message !== ''))].join('; ');
  if (isCoded(inner) && !detail.includes(inner.code)) {
    detail = detail === '' ? inner.code : `${detail} (${inner.code})`;
  }
  // The real error is the cause: `cause.code` is the system code, and a log of the cause chain
  // does not repeat the generic "fetch failed".
  return { detail: detail === '' ? 'request failed' : detail, cause: inner };
}

function classify(error: unknown, url: string, timeout: number): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new UpstreamError('timeout', url, `timed out after ${String(timeout)} ms`, { cause: error });
  }
  const { detail, cause } = networkFailure(error);
  if (detail === 'bad port') {
    // fetch never connects to the Fetch standard's "bad ports" (1, 6000, 10080, …: §2.9, port
    // blocking), and undici says only "bad port"; an operator trying a closed port such as 1 would
    // otherwise hunt for a refused connection that was never attempted.
    const port = URL.parse(url)?.port ?? '';
    return new UpstreamError(
      'network',
      url,
      `bad port: fetch never connects to port ${port} (the Fetch standard blocks it); use another port`,
      { cause },
    );
  }
  return new UpstreamError('network', url, detail, { cause });
}

/**
 * `fetch` with the deadline, the no-redirect rule and the size cap, returning a Response whose body
 * is already buffered (so the cap and the deadline cover the body too). Suitable as oauth4webapi's
 * `customFetch`.
 */
export async function boundedFetch(url: string, init: RequestInit, limits: FetchLimits): Promise<Response> {
  try {
    limits.observe?.(url, undefined);
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(limits.timeout),
    });
    limits.observe?.(url, response.status);
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw new UpstreamError('redirect', url, `redirect (${String(response.status)}) refused`);
    }
    const text = await readCapped(response, url, limits.maxBytes);
    return new Response(response.status === 204 || response.status === 304 ? null : text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch (error) {
    throw classify(error, url, limits.timeout);
  }
}

/** GET `url` and parse its JSON body within the limits in `options`. */
export async function fetchJson(url: string, options: FetchJsonOptions): Promise<unknown> {
  const accepted = options.accept ?? [];
  const response = await boundedFetch(
    url,
    { method: 'GET', headers: { accept: ['application/json', ...accepted].join(', ') } },
    options,
  );
  if (response.status !== 200) {
    throw new UpstreamError('status', url, `HTTP ${String(response.status)}`);
  }
  if (!isJsonType(response.headers.get('content-type'), accepted)) {
    throw new UpstreamError(
      'content-type',
      url,
      `content-type ${String(response.headers.get('content-type'))} is not JSON`,
    );
  }
  try {
    return JSON.parse(await response.text()) as unknown;
  } catch (cause) {
    throw new UpstreamError('invalid-json', url, 'body is not valid JSON', { cause });
  }
}
