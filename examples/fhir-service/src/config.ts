/**
 * The FHIR service's configuration: environment variables with defaults, read and validated once at
 * start-up. A wrong value throws a {@link FhirConfigError} naming the variable, so a misconfigured
 * service never starts (rather than failing on its first request).
 */

/**
 * Development-only introspection secret: the same default the fleet's authorization server registers
 * for the `fhir-service` client. Refused when `NODE_ENV=production`: set `FHIR_INTROSPECTION_SECRET`.
 */
export const DEV_INTROSPECTION_SECRET = 'dev-only-fhir-introspection-secret-do-not-deploy';

export interface FhirConfig {
  /** `FHIR_PORT`: where the service listens (0 picks a free port). */
  port: number;
  /** `FHIR_HOST`: the interface it listens on. */
  host: string;
  /** `AS_ISSUER`: the authorization server; its metadata gives the SMART endpoints. */
  issuer: string;
  /** `FHIR_AUDIENCE`: this API's resource identifier, which introspected tokens' `aud` must contain. */
  audience: string;
  /** `FHIR_INTROSPECTION_CLIENT_ID`: this service's own client at the authorization server. */
  introspectionClientId: string;
  /** `FHIR_INTROSPECTION_SECRET`: its client secret (`client_secret_basic`). */
  introspectionSecret: string;
  /** `FHIR_INTROSPECTION_ENDPOINT`: the RFC 7662 endpoint; `undefined` finds it by discovery. */
  introspectionEndpoint: string | undefined;
  /** `FHIR_BASE_URL`: the public base URL, without a trailing `/`, used in links and the CapabilityStatement. */
  baseUrl: string;
  /** `RATE_LIMIT_PER_MINUTE`: requests per client IP and minute, health checks excepted. */
  rateLimitPerMinute: number;
  /**
   * `FHIR_INTROSPECTION_CACHE_SECONDS`: how long an active introspection answer may be reused
   * (0–3600, default 60). It bounds how late a revocation is seen.
   */
  introspectionCacheSeconds: number;
  /**
   * `ALLOW_INSECURE_HTTP`: accept plain-http authorization-server URLs beyond loopback (a private
   * container network in a demo; never across networks you do not control). Defaults to `false`.
   */
  allowInsecureHttp: boolean;
}

/** A wrong environment variable. `variable` names it; the message says what to change. */
export class FhirConfigError extends TypeError {
  override readonly name = 'FhirConfigError';
  readonly code = 'ERR_FHIR_CONFIG';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable} ${message}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** The trimmed value, or `undefined` when unset. Set-but-empty is an error: it is usually a typo. */
function read(env: Env, variable: string): string | undefined {
  const value = env[variable];
  if (value === undefined) return undefined;
  if (value.trim() === '') {
    throw new FhirConfigError(variable, 'is set but empty; give it a value or unset it to use the default.');
  }
  return value.trim();
}

function integer(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const raw = read(env, variable);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new FhirConfigError(
      variable,
      `must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}.`,
    );
  }
  return value;
}

function host(env: Env, variable: string, fallback: string): string {
  const raw = read(env, variable) ?? fallback;
  if (!/^(?:[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/.test(raw)) {
    throw new FhirConfigError(
      variable,
      `must be a host name or IP address such as "127.0.0.1"; got ${JSON.stringify(raw)}.`,
    );
  }
  return raw.replace(/^\[(.*)\]$/, '$1');
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
// 127.0.0.0/8 as the URL parser normalises IPv4 hosts, as bearer-guard itself counts loopback.
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

function boolean(env: Env, variable: string): boolean {
  const raw = read(env, variable);
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new FhirConfigError(variable, `must be "true" or "false"; got ${JSON.stringify(raw)}.`);
}

/**
 * An http(s) URL without credentials, query or fragment, kept verbatim: the issuer is an identifier
 * compared exactly with `iss` (RFC 8414 §2). Plain http only on loopback unless `allowHttp`
 * (`ALLOW_INSECURE_HTTP=true`), as bearer-guard requires; checking it here names the variable.
 */
function httpsUrl(variable: string, raw: string, allowHttp: boolean): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const loopback = url !== undefined && (LOOPBACK.has(url.hostname) || LOOPBACK_IPV4.test(url.hostname));
  const secure = url?.protocol === 'https:' || (url?.protocol === 'http:' && (allowHttp || loopback));
  if (url === undefined || !secure) {
    throw new FhirConfigError(
      variable,
      `must be an https URL (http only on loopback, or anywhere with ALLOW_INSECURE_HTTP=true); got ${JSON.stringify(raw)}.`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new FhirConfigError(variable, 'must not contain credentials, a query or a fragment.');
  }
  return raw;
}

/** An RFC 8707 resource indicator / `aud` value: an absolute URI without a fragment, kept verbatim. */
function resourceIndicator(env: Env, variable: string, fallback: string): string {
  const raw = read(env, variable) ?? fallback;
  let valid: boolean;
  try {
    valid = new URL(raw).hash === '' && !raw.includes('#');
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new FhirConfigError(
      variable,
      `must be an absolute URI without a fragment, such as "${fallback}"; got ${JSON.stringify(raw)}.`,
    );
  }
  return raw;
}

/** A public base URL: absolute http(s), no credentials, query or fragment; trailing `/` dropped. */
function baseUrl(variable: string, raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new FhirConfigError(
      variable,
      `must be an absolute http(s) URL such as "https://fhir.example.com/r4"; got ${JSON.stringify(raw)}.`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new FhirConfigError(variable, 'must not contain credentials, a query or a fragment.');
  }
  return raw.replace(/\/+$/, '');
}

function secret(env: Env, variable: string): string {
  const raw = env[variable];
  if (raw === undefined) {
    if (env['NODE_ENV'] === 'production') {
      throw new FhirConfigError(variable, 'is required when NODE_ENV=production (the default is dev-only).');
    }
    return DEV_INTROSPECTION_SECRET;
  }
  // Never echo a secret, not even a wrong one.
  if (raw.trim() === '') throw new FhirConfigError(variable, 'is set but empty.');
  return raw;
}

/**
 * Read the FHIR service's configuration from `env` (default `process.env`). `FHIR_BASE_URL` defaults
 * to `http://<FHIR_HOST>:<FHIR_PORT>`; set it when the service is reached through another address.
 *
 * @throws {FhirConfigError} naming the first wrong variable.
 */
export function loadFhirConfig(env: Env = process.env): FhirConfig {
  const port = integer(env, 'FHIR_PORT', 4300, 0, 65_535);
  const listenHost = host(env, 'FHIR_HOST', '127.0.0.1');
  const endpoint = read(env, 'FHIR_INTROSPECTION_ENDPOINT');
  const allowInsecureHttp = boolean(env, 'ALLOW_INSECURE_HTTP');
  const clientId = read(env, 'FHIR_INTROSPECTION_CLIENT_ID') ?? 'fhir-service';
  const defaultBase = `http://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${port}`;
  return {
    port,
    host: listenHost,
    issuer: httpsUrl('AS_ISSUER', read(env, 'AS_ISSUER') ?? 'http://127.0.0.1:4000', allowInsecureHttp),
    audience: resourceIndicator(env, 'FHIR_AUDIENCE', 'https://fhir.fleet.example/r4'),
    introspectionClientId: clientId,
    introspectionSecret: secret(env, 'FHIR_INTROSPECTION_SECRET'),
    introspectionEndpoint:
      endpoint === undefined
        ? undefined
        : httpsUrl('FHIR_INTROSPECTION_ENDPOINT', endpoint, allowInsecureHttp),
    baseUrl: baseUrl('FHIR_BASE_URL', read(env, 'FHIR_BASE_URL') ?? defaultBase),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    introspectionCacheSeconds: integer(env, 'FHIR_INTROSPECTION_CACHE_SECONDS', 60, 0, 3600),
    allowInsecureHttp,
  };
}
