/**
 * The orders service's configuration: environment variables with defaults, read and validated once
 * at start-up. A wrong value throws an {@link OrdersConfigError} naming the variable, so a
 * misconfigured service never starts (rather than failing on its first request).
 */

export interface OrdersConfig {
  /** `ORDERS_PORT`: where the service listens (0 picks a free port). */
  port: number;
  /** `ORDERS_HOST`: the interface it listens on. */
  host: string;
  /** `AS_ISSUER`: the authorization server; compared exactly with the tokens' `iss`. */
  issuer: string;
  /** `ORDERS_AUDIENCE`: this API's resource identifier, which the tokens' `aud` must contain. */
  audience: string;
  /** `ORDERS_JWKS_URI`: the issuer's JWK Set; `undefined` finds it by discovery from the issuer. */
  jwksUri: string | undefined;
  /** `RATE_LIMIT_PER_MINUTE`: requests per client IP and minute, health checks excepted. */
  rateLimitPerMinute: number;
  /**
   * `ALLOW_INSECURE_HTTP`: accept plain-http authorization-server URLs beyond loopback (a private
   * container network in a demo; never across networks you do not control). Defaults to `false`.
   */
  allowInsecureHttp: boolean;
}

/** A wrong environment variable. `variable` names it; the message says what to change. */
export class OrdersConfigError extends TypeError {
  override readonly name = 'OrdersConfigError';
  readonly code = 'ERR_ORDERS_CONFIG';
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
    throw new OrdersConfigError(
      variable,
      'is set but empty; give it a value or unset it to use the default.',
    );
  }
  return value.trim();
}

function integer(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const raw = read(env, variable);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new OrdersConfigError(
      variable,
      `must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}.`,
    );
  }
  return value;
}

function host(env: Env, variable: string, fallback: string): string {
  const raw = read(env, variable) ?? fallback;
  if (!/^(?:[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/.test(raw)) {
    throw new OrdersConfigError(
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
  throw new OrdersConfigError(variable, `must be "true" or "false"; got ${JSON.stringify(raw)}.`);
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
    throw new OrdersConfigError(
      variable,
      `must be an https URL (http only on loopback, or anywhere with ALLOW_INSECURE_HTTP=true); got ${JSON.stringify(raw)}.`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new OrdersConfigError(variable, 'must not contain credentials, a query or a fragment.');
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
    throw new OrdersConfigError(
      variable,
      `must be an absolute URI without a fragment, such as "${fallback}"; got ${JSON.stringify(raw)}.`,
    );
  }
  return raw;
}

/**
 * Read the orders service's configuration from `env` (default `process.env`).
 *
 * @throws {OrdersConfigError} naming the first wrong variable.
 */
export function loadOrdersConfig(env: Env = process.env): OrdersConfig {
  const jwksUri = read(env, 'ORDERS_JWKS_URI');
  const allowInsecureHttp = boolean(env, 'ALLOW_INSECURE_HTTP');
  return {
    port: integer(env, 'ORDERS_PORT', 4200, 0, 65_535),
    host: host(env, 'ORDERS_HOST', '127.0.0.1'),
    issuer: httpsUrl('AS_ISSUER', read(env, 'AS_ISSUER') ?? 'http://127.0.0.1:4000', allowInsecureHttp),
    audience: resourceIndicator(env, 'ORDERS_AUDIENCE', 'https://orders.fleet.example'),
    jwksUri: jwksUri === undefined ? undefined : httpsUrl('ORDERS_JWKS_URI', jwksUri, allowInsecureHttp),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    allowInsecureHttp,
  };
}
