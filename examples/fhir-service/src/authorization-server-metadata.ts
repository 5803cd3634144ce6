/** The authorization-server metadata members the SMART documents repeat. @see RFC 8414 §2 */
export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly token_endpoint: string;
  readonly authorization_endpoint?: string | undefined;
  readonly introspection_endpoint?: string | undefined;
  readonly jwks_uri?: string | undefined;
  readonly grant_types_supported?: readonly string[] | undefined;
  readonly token_endpoint_auth_methods_supported?: readonly string[] | undefined;
}

/** The metadata cannot be fetched or is not usable. Answered as 503 on a request, fatal at start-up. */
export class MetadataUnavailableError extends Error {
  override readonly name = 'MetadataUnavailableError';
  readonly status = 503;
  readonly retryAfter = 5;
}

const TIMEOUT_MS = 3000;
const MAX_BYTES = 256 * 1024;
/** How long a failure is remembered, so a burst of `/metadata` requests is one call to a down server. */
const FAILURE_MEMORY_MS = 5000;
const URL_MEMBERS = [
  'token_endpoint',
  'authorization_endpoint',
  'introspection_endpoint',
  'jwks_uri',
] as const;

/** RFC 8414 §3.1 (well-known segment inserted before the issuer's path), then OpenID Connect Discovery §4. */
function wellKnownUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
}

const isHttpUrl = (value: unknown): boolean => {
  if (typeof value !== 'string') return false;
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
};

const stringList = (value: unknown): readonly string[] | undefined =>
  Array.isArray(value) && value.every((entry) => typeof entry === 'string') ? value : undefined;

function parseMetadata(issuer: string, document: unknown): AuthorizationServerMetadata {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new MetadataUnavailableError('the metadata is not a JSON object');
  }
  const members = document as Record<string, unknown>;
  // RFC 8414 §3.3: the document must name the very issuer it was fetched for.
  if (members['issuer'] !== issuer) throw new MetadataUnavailableError(`the metadata names another issuer`);
  for (const name of URL_MEMBERS) {
    if (members[name] !== undefined && !isHttpUrl(members[name])) {
      throw new MetadataUnavailableError(`the metadata member ${name} is not an http(s) URL`);
    }
  }
  if (members['token_endpoint'] === undefined)
    throw new MetadataUnavailableError('the metadata has no token_endpoint');
  const url = (name: (typeof URL_MEMBERS)[number]): string | undefined => members[name] as string | undefined;
  return Object.freeze({
    issuer,
    token_endpoint: url('token_endpoint') ?? '',
    authorization_endpoint: url('authorization_endpoint'),
    introspection_endpoint: url('introspection_endpoint'),
    jwks_uri: url('jwks_uri'),
    grant_types_supported: stringList(members['grant_types_supported']),
    token_endpoint_auth_methods_supported: stringList(members['token_endpoint_auth_methods_supported']),
  });
}

/** One GET with a deadline for the whole call, no redirects, a size cap. `undefined` when absent (4xx). */
async function fetchDocument(url: string): Promise<unknown> {
  const response = await fetch(url, {
    headers: { accept: 'application/json' },
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (response.status >= 400 && response.status < 500) {
    await response.body?.cancel();
    return undefined;
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (response.status !== 200 || length > MAX_BYTES) {
    await response.body?.cancel();
    throw new MetadataUnavailableError(`${url} answered ${response.status}`);
  }
  const text = await response.text();
  if (text.length > MAX_BYTES) throw new MetadataUnavailableError(`${url} answered an oversized document`);
  return JSON.parse(text) as unknown;
}

/**
 * The issuer's metadata, fetched on first use and kept once it succeeds. Concurrent callers share one
 * fetch; a failure is remembered for a few seconds, then the next caller tries again. Only a 4xx
 * answer (the document is not there) falls through to the next well-known URL: a timeout means the
 * server is down, and trying again would double the wait.
 */
export class AuthorizationServerMetadataSource {
  readonly #issuer: string;
  #pending: Promise<AuthorizationServerMetadata> | undefined;

  constructor(issuer: string) {
    this.#issuer = issuer;
  }

  get(): Promise<AuthorizationServerMetadata> {
    this.#pending ??= this.#load().catch((error: unknown) => {
      setTimeout(() => (this.#pending = undefined), FAILURE_MEMORY_MS).unref();
      throw error instanceof MetadataUnavailableError
        ? error
        : new MetadataUnavailableError(`the metadata of ${this.#issuer} cannot be fetched`, { cause: error });
    });
    return this.#pending;
  }

  async #load(): Promise<AuthorizationServerMetadata> {
    for (const url of wellKnownUrls(this.#issuer)) {
      const document = await fetchDocument(url);
      if (document !== undefined) return parseMetadata(this.#issuer, document);
    }
    throw new MetadataUnavailableError(`no metadata document found for ${this.#issuer}`);
  }
}
