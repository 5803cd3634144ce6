/**
 * The one outbound HTTP helper for calls to the authorization server, used as oauth4webapi's
 * `customFetch`: a deadline for the whole exchange, body included (`AbortSignal.timeout`, not a
 * socket idle timer), no redirects (a redirected token request would carry the client's
 * credentials to wherever the `Location` points), and a size cap on the body.
 */

export type HttpFailureReason = 'timeout' | 'network' | 'redirect' | 'too-large';

/** A failed exchange. Carries no request data: the request body holds the client's credentials. */
export class HttpFailure extends Error {
  override readonly name = 'HttpFailure';
  constructor(
    readonly reason: HttpFailureReason,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface FetchLimits {
  /** Deadline for the whole exchange, in milliseconds. */
  timeout: number;
  /** Largest accepted body, in bytes. */
  maxBytes: number;
}

async function readCapped(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new HttpFailure('too-large', `response of ${String(declared)} bytes exceeds ${String(maxBytes)}`);
  }
  if (response.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new HttpFailure('too-large', `response exceeds ${String(maxBytes)} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A system error's own code (`ECONNREFUSED`, …) without the rest of undici's error object, so a
 * cause chain never holds more than the reason.
 */
function networkCause(error: unknown): Error {
  const inner = error instanceof Error ? error.cause : undefined;
  const code = inner instanceof Error && 'code' in inner ? String(inner.code) : undefined;
  return new Error(code ?? (error instanceof Error ? error.message : 'request failed'));
}

/** `fetch` within the limits; the returned Response has its body already buffered. */
export async function boundedFetch(url: string, init: RequestInit, limits: FetchLimits): Promise<Response> {
  try {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(limits.timeout),
    });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw new HttpFailure('redirect', `redirect (${String(response.status)}) refused`, response.status);
    }
    const body = await readCapped(response, limits.maxBytes);
    const empty = response.status === 204 || response.status === 304;
    return new Response(empty ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch (error) {
    if (error instanceof HttpFailure) throw error;
    const name = error instanceof Error ? error.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new HttpFailure('timeout', `no answer within ${String(limits.timeout)} ms`);
    }
    throw new HttpFailure('network', 'request failed', undefined, { cause: networkCause(error) });
  }
}
