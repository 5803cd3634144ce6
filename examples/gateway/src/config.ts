/**
 * The gateway's configuration: environment variables with defaults, read and validated once at
 * start-up. A wrong value throws a {@link GatewayConfigError} naming the variable, so a
 * misconfigured gateway never starts (and never fails on its first request instead).
 */
import { ConfigError, EnvReader, isLoopbackHost, type Env } from '@bearer-guard/example-shared';

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
  /**
   * `ORDERS_REPLICA_URLS`: where the replicas behind `ORDERS_URL` listen, separated by commas; the
   * calls to `ORDERS_URL` are sent to them in turn. Empty (the default): to `ORDERS_URL` itself.
   */
  ordersReplicaUrls: readonly string[];
  /** `FHIR_URL`, `FHIR_AUDIENCE`: the FHIR service base and its RFC 8707 resource indicator. */
  fhirUrl: string;
  fhirAudience: string;
  /** `FHIR_REPLICA_URLS`: as `ORDERS_REPLICA_URLS`, for `FHIR_URL`. */
  fhirReplicaUrls: readonly string[];
  /** `BACKEND_TIMEOUT_MS`: deadline of each backend call, the token request included. */
  backendTimeoutMs: number;
  /** `RATE_LIMIT_PER_MINUTE`: requests per client IP and minute. */
  rateLimitPerMinute: number;
  /** `REDIS_URL`: count the rate limit in this Redis, shared by every gateway replica. Unset: in memory. */
  redisUrl: string | undefined;
  /**
   * `ALLOW_INSECURE_HTTP`: accept plain-http URLs beyond loopback (a private container network in a
   * demo; never across networks you do not control). Defaults to `false`.
   */
  allowInsecureHttp: boolean;
}

/** A wrong environment variable. `variable` names it; the message says what to change. */
export class GatewayConfigError extends ConfigError {
  override readonly name = 'GatewayConfigError';
  readonly code = 'ERR_GATEWAY_CONFIG';
}

/**
 * An absolute http(s) URL without credentials, query or fragment. A base URL loses its trailing `/`;
 * the issuer is an identifier compared exactly with `iss` (RFC 8414 §2), so it is kept verbatim.
 */
function httpUrl(
  vars: EnvReader,
  variable: string,
  raw: string,
  example: string,
  { base = true } = {},
): string {
  const url = vars.httpUrl(variable, raw, example);
  // Tokens and client secrets travel to these URLs: the same rule as bearer-guard and its client.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !vars.boolean('ALLOW_INSECURE_HTTP')) {
    throw vars.fail(
      variable,
      `must be an https URL (plain http only on loopback: 127.0.0.1, localhost, [::1], or with ALLOW_INSECURE_HTTP=true); got ${JSON.stringify(raw)}.`,
    );
  }
  return base ? raw.replace(/\/+$/, '') : raw;
}

/** A comma-separated list of origins, each checked as {@link httpUrl}; no empty entry, no repeat. */
function httpUrls(vars: EnvReader, variable: string, fallback: string): string[] {
  const raw = vars.read(variable);
  if (raw === undefined) return [];
  const entries = raw.split(',').map((entry) => entry.trim());
  if (entries.some((entry) => entry === '')) {
    throw vars.fail(
      variable,
      `must be one URL or several separated by commas, without an empty one; got ${JSON.stringify(raw)}.`,
    );
  }
  const urls = entries.map((entry) => httpUrl(vars, variable, entry, fallback));
  if (new Set(urls).size !== urls.length) {
    throw vars.fail(variable, `lists one URL twice; got ${JSON.stringify(raw)}.`);
  }
  // A replica is a connection target: its path would be ignored, so none is accepted.
  if (urls.some((url) => new URL(url).pathname !== '/')) {
    throw vars.fail(
      variable,
      `must list origins such as "${fallback}" (no path); got ${JSON.stringify(raw)}.`,
    );
  }
  return urls;
}

/**
 * Read the gateway's configuration from `env` (default `process.env`).
 *
 * @throws {GatewayConfigError} naming the first wrong variable.
 */
export function loadConfig(env: Env = process.env): GatewayConfig {
  const vars = new EnvReader(env, GatewayConfigError);
  const clientId = vars.read('GATEWAY_CLIENT_ID') ?? 'gateway';
  return {
    port: vars.integer('GATEWAY_PORT', 4100, 0, 65_535),
    host: vars.host('GATEWAY_HOST', '127.0.0.1'),
    issuer: httpUrl(
      vars,
      'AS_ISSUER',
      vars.read('AS_ISSUER') ?? 'http://127.0.0.1:4000',
      'http://127.0.0.1:4000',
      {
        base: false,
      },
    ),
    audience: vars.resourceIndicator('GATEWAY_AUDIENCE', 'https://gateway.fleet.example'),
    clientId,
    clientSecret: vars.secret('GATEWAY_CLIENT_SECRET', DEV_CLIENT_SECRET),
    ordersUrl: httpUrl(
      vars,
      'ORDERS_URL',
      vars.read('ORDERS_URL') ?? 'http://127.0.0.1:4200',
      'http://127.0.0.1:4200',
    ),
    ordersReplicaUrls: httpUrls(vars, 'ORDERS_REPLICA_URLS', 'http://127.0.0.1:4200'),
    ordersAudience: vars.resourceIndicator('ORDERS_AUDIENCE', 'https://orders.fleet.example'),
    fhirUrl: httpUrl(
      vars,
      'FHIR_URL',
      vars.read('FHIR_URL') ?? 'http://127.0.0.1:4300',
      'http://127.0.0.1:4300',
    ),
    fhirReplicaUrls: httpUrls(vars, 'FHIR_REPLICA_URLS', 'http://127.0.0.1:4300'),
    fhirAudience: vars.resourceIndicator('FHIR_AUDIENCE', 'https://fhir.fleet.example/r4'),
    backendTimeoutMs: vars.integer('BACKEND_TIMEOUT_MS', 2000, 1, 60_000),
    rateLimitPerMinute: vars.integer('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    redisUrl: vars.redisUrl(),
    allowInsecureHttp: vars.boolean('ALLOW_INSECURE_HTTP'),
  };
}
