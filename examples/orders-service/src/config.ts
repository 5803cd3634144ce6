/**
 * The orders service's configuration: environment variables with defaults, read and validated once
 * at start-up. A wrong value throws an {@link OrdersConfigError} naming the variable, so a
 * misconfigured service never starts (rather than failing on its first request).
 */
import { ConfigError, EnvReader, type Env } from '@bearer-guard/example-shared';

/**
 * Development-only DPoP nonce secret (RFC 9449 §9). Published in this repository: refused when
 * `NODE_ENV=production`, where `ORDERS_DPOP_NONCE_SECRET` must be set (the same on every replica).
 */
export const DEV_DPOP_NONCE_SECRET = 'dev-only-orders-dpop-nonce-secret-do-not-deploy';

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
  /**
   * `ORDERS_PUBLIC_URL`: the URL callers reach this service at, without a trailing `/`: each DPoP
   * proof's `htu` must be it + the request path (RFC 9449 §4.3), and the RFC 9728 document names it.
   */
  publicUrl: string;
  /** `ORDERS_DPOP_NONCE_SECRET`: the key of the stateless DPoP nonces (at least 32 characters). */
  dpopNonceSecret: string;
  /** `RATE_LIMIT_PER_MINUTE`: requests per client IP and minute, health checks excepted. */
  rateLimitPerMinute: number;
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
 * Read the orders service's configuration from `env` (default `process.env`). `ORDERS_PUBLIC_URL`
 * defaults to `http://<ORDERS_HOST>:<ORDERS_PORT>`; set it when callers reach the service elsewhere.
 *
 * @throws {OrdersConfigError} naming the first wrong variable.
 */
export function loadOrdersConfig(env: Env = process.env): OrdersConfig {
  const vars = new EnvReader(env, OrdersConfigError);
  const jwksUri = vars.read('ORDERS_JWKS_URI');
  const allowInsecureHttp = vars.boolean('ALLOW_INSECURE_HTTP');
  const port = vars.integer('ORDERS_PORT', 4200, 0, 65_535);
  const host = vars.host('ORDERS_HOST', '127.0.0.1');
  const publicUrl =
    vars.read('ORDERS_PUBLIC_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  vars.httpUrl('ORDERS_PUBLIC_URL', publicUrl, 'https://orders.example.com');
  const dpopNonceSecret = vars.secret('ORDERS_DPOP_NONCE_SECRET', DEV_DPOP_NONCE_SECRET);
  // bearer-guard wants 32 bytes or more: nonces must be unpredictable (RFC 9449 §9). Never echoed.
  if (Buffer.byteLength(dpopNonceSecret) < 32) {
    throw vars.fail(
      'ORDERS_DPOP_NONCE_SECRET',
      `must be at least 32 bytes long; got ${String(Buffer.byteLength(dpopNonceSecret))}.`,
    );
  }
  return {
    port,
    host,
    issuer: vars.httpsUrl('AS_ISSUER', vars.read('AS_ISSUER') ?? 'http://127.0.0.1:4000', allowInsecureHttp),
    audience: vars.resourceIndicator('ORDERS_AUDIENCE', 'https://orders.fleet.example'),
    jwksUri: jwksUri === undefined ? undefined : vars.httpsUrl('ORDERS_JWKS_URI', jwksUri, allowInsecureHttp),
    publicUrl: publicUrl.replace(/\/+$/, ''),
    dpopNonceSecret,
    rateLimitPerMinute: vars.integer('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    allowInsecureHttp,
  };
}
