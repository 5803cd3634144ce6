import type { IncomingMessage } from 'node:http';

/** Largest request body the stub reads: 1 MiB. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/**
 * Reads the whole request body as UTF-8. Resolves `undefined` when it is larger than `limit` bytes
 * (the rest is drained, not kept); rejects if the request is aborted.
 */
export function readBody(
  req: IncomingMessage,
  limit: number = MAX_REQUEST_BODY_BYTES,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => {
      resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8'));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('testkit: request aborted'));
    });
  });
}

/** The media type of a `Content-Type` value, lower-cased, without parameters (`''` if absent). */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/**
 * Whether an `Accept` header explicitly lists `mediaType` with a non-zero quality. Wildcard
 * ranges (`application/*` and the like) do not count: a client must ask for this representation.
 */
export function acceptsExplicitly(accept: string | undefined, mediaType: string): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [name, ...parameters] = range.split(';');
    if (mediaTypeOf(name) !== mediaType) return false;
    const quality = parameters
      .map((parameter) => parameter.trim())
      .find((parameter) => /^q=/i.test(parameter));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}
