/**
 * The orders service's configuration: environment variables with defaults, read and validated once
 * at start-up. A wrong value throws an {@link OrdersConfigError} naming the variable, so a
 * misconfigured service never starts (rather than failing on its first request).
 */
import { ConfigError, EnvReader, type Env } from '@bearer-guard/example-shared';

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
  /** `REDIS_URL`: share the rate limit with the other replicas through this Redis. Unset: in memory. */
  redisUrl: string | undefined;
  /**
   * `ALLOW_INSECURE_HTTP`: accept plain-http authorization-server URLs beyond loopback (a private
   * container network in a demo; never across networks you do not control). Defaults to `false`.
   */
  allowInsecureHttp: boolean;
}

/** A wrong environment variable. `variable` names it; the message says what to change. */
export class OrdersConfigError extends ConfigError {
  override readonly name = 'OrdersConfigError';
  readonly code = 'ERR_ORDERS_CONFIG';
}

/**
 * Read the orders service's configuration from `env` (default `process.env`).
 *
 * @throws {OrdersConfigError} naming the first wrong variable.
 */
export function loadOrdersConfig(env: Env = process.env): OrdersConfig {
  const vars = new EnvReader(env, OrdersConfigError);
  const jwksUri = vars.read('ORDERS_JWKS_URI');
  const allowInsecureHttp = vars.boolean('ALLOW_INSECURE_HTTP');
  return {
    port: vars.integer('ORDERS_PORT', 4200, 0, 65_535),
    host: vars.host('ORDERS_HOST', '127.0.0.1'),
    issuer: vars.httpsUrl('AS_ISSUER', vars.read('AS_ISSUER') ?? 'http://127.0.0.1:4000', allowInsecureHttp),
    audience: vars.resourceIndicator('ORDERS_AUDIENCE', 'https://orders.fleet.example'),
    jwksUri: jwksUri === undefined ? undefined : vars.httpsUrl('ORDERS_JWKS_URI', jwksUri, allowInsecureHttp),
    rateLimitPerMinute: vars.integer('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    redisUrl: vars.redisUrl(),
    allowInsecureHttp,
  };
}
