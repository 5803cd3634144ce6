/**
 * The gateway's configuration: environment variables with defaults, read and validated once at
 * start-up. A wrong value throws a {@link GatewayConfigError} naming the variable, so a
 * misconfigured gateway never starts (and never fails on its first request instead).
 */

/**
 * Development-only client secret, the same default the fleet's authorization server registers for
 * the `gateway` client. Refused when `NODE_ENV=production`: set `GATEWAY_CLIENT_SECRET` there.
 */
export const DEV_CLIENT_SECRET = 'dev-only-gateway-secret-do-not-deploy';

export interface GatewayConfig {
  /** `GATEWAY_PORT`: where the gateway listens (0 picks a free port). */
  port: number;
  /** `GATEWAY_HOST`: the interface it listens on. */
  host: string;
  /** `AS_ISSUER`: the authorization server, for callers' tokens and the gateway's own. */
  issuer: string;
  /** `GATEWAY_AUDIENCE`: the `aud` callers' tokens must carry. */
  audience: string;
  /** `GATEWAY_CLIENT_ID`, `GATEWAY_CLIENT_SECRET`: the gateway's own client credentials. */
  clientId: string;
  clientSecret: string;
  /** `ORDERS_URL`, `ORDERS_AUDIENCE`: the orders service and its RFC 8707 resource indicator. */
  ordersUrl: string;
  ordersAudience: string;
  /** `FHIR_URL`, `FHIR_AUDIENCE`: the FHIR service base and its RFC 8707 resource indicator. */
  fhirUrl: string;
  fhirAudience: string;
  /** `BACKEND_TIMEOUT_MS`: deadline of each backend call, the token request included. */
  backendTimeoutMs: number;
  /** `RATE_LIMIT_PER_MINUTE`: requests per client IP and minute. */
  rateLimitPerMinute: number;
  /**
   * `ALLOW_INSECURE_HTTP`: accept plain-http URLs beyond loopback (a private container network in a
   * demo; never across networks you do not control). Defaults to `false`.
   */
  allowInsecureHttp: boolean;
}

/** A wrong environment variable. `variable` names it; the message says what to change. */
export class GatewayConfigError extends TypeError {
  override readonly name = 'GatewayConfigError';
  readonly code = 'ERR_GATEWAY_CONFIG';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable} ${message}`);
  }
}

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

type Env = Readonly<Record<string, string | undefined>>;

/** The raw value, or `undefined` when unset. Set-but-empty is an error: it is usually a typo. */
function read(env: Env, variable: string): string | undefined {
  const value = env[variable];
  if (value === undefined) return undefined;
  if (value.trim() === '') {
    throw new GatewayConfigError(
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
    throw new GatewayConfigError(
      variable,
      `must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}.`,
    );
  }
  return value;
}

/**
 * An absolute http(s) URL without credentials, query or fragment. A base URL loses its trailing `/`;
 * the issuer is an identifier compared exactly with `iss` (RFC 8414 §2), so it is kept verbatim.
 */
function allowInsecure(env: Env): boolean {
  const raw = read(env, 'ALLOW_INSECURE_HTTP');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new GatewayConfigError(
    'ALLOW_INSECURE_HTTP',
    `must be "true" or "false"; got ${JSON.stringify(raw)}.`,
  );
}

function httpUrl(env: Env, variable: string, fallback: string, { base = true } = {}): string {
  const raw = read(env, variable) ?? fallback;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new GatewayConfigError(
      variable,
      `must be an absolute http(s) URL such as "${fallback}"; got ${JSON.stringify(raw)}.`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new GatewayConfigError(variable, 'must not contain credentials, a query or a fragment.');
  }
  // Tokens and client secrets travel to these URLs: the same rule as bearer-guard and its client.
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname) && !allowInsecure(env)) {
    throw new GatewayConfigError(
      variable,
      `must be an https URL (plain http only on loopback: 127.0.0.1, localhost, [::1], or with ALLOW_INSECURE_HTTP=true); got ${JSON.stringify(raw)}.`,
    );
  }
  return base ? raw.replace(/\/+$/, '') : raw;
}

/** An RFC 8707 resource indicator / `aud` value: an absolute URI without a fragment, kept verbatim. */
function resourceIndicator(env: Env, variable: string, fallback: string): string {
  const raw = read(env, variable) ?? fallback;
  let valid = false;
  try {
    valid = new URL(raw).hash === '' && !raw.includes('#');
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new GatewayConfigError(
      variable,
      `must be an absolute URI without a fragment, such as "${fallback}"; got ${JSON.stringify(raw)}.`,
    );
  }
  return raw;
}

function host(env: Env, variable: string, fallback: string): string {
  const raw = read(env, variable) ?? fallback;
  if (!/^(?:[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/.test(raw)) {
    throw new GatewayConfigError(
      variable,
      `must be a host name or IP address such as "127.0.0.1"; got ${JSON.stringify(raw)}.`,
    );
  }
  return raw.replace(/^\[(.*)\]$/, '$1');
}

function clientSecret(env: Env, variable: string): string {
  const raw = env[variable];
  if (raw === undefined) {
    if (env['NODE_ENV'] === 'production') {
      throw new GatewayConfigError(
        variable,
        'is required when NODE_ENV=production (the default is dev-only).',
      );
    }
    return DEV_CLIENT_SECRET;
  }
  // Never echo a secret, not even a wrong one.
  if (raw.trim() === '') throw new GatewayConfigError(variable, 'is set but empty.');
  return raw;
}

/**
 * Read the gateway's configuration from `env` (default `process.env`).
 *
 * @throws {GatewayConfigError} naming the first wrong variable.
 */
export function loadConfig(env: Env = process.env): GatewayConfig {
  const clientId = read(env, 'GATEWAY_CLIENT_ID') ?? 'gateway';
  return {
    port: integer(env, 'GATEWAY_PORT', 4100, 0, 65_535),
    host: host(env, 'GATEWAY_HOST', '127.0.0.1'),
    issuer: httpUrl(env, 'AS_ISSUER', 'http://127.0.0.1:4000', { base: false }),
    audience: resourceIndicator(env, 'GATEWAY_AUDIENCE', 'https://gateway.fleet.example'),
    clientId,
    clientSecret: clientSecret(env, 'GATEWAY_CLIENT_SECRET'),
    ordersUrl: httpUrl(env, 'ORDERS_URL', 'http://127.0.0.1:4200'),
    ordersAudience: resourceIndicator(env, 'ORDERS_AUDIENCE', 'https://orders.fleet.example'),
    fhirUrl: httpUrl(env, 'FHIR_URL', 'http://127.0.0.1:4300'),
    fhirAudience: resourceIndicator(env, 'FHIR_AUDIENCE', 'https://fhir.fleet.example/r4'),
    backendTimeoutMs: integer(env, 'BACKEND_TIMEOUT_MS', 2000, 1, 60_000),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    allowInsecureHttp: allowInsecure(env),
  };
}
