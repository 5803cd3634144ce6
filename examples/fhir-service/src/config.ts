/**
 * The FHIR service's configuration: environment variables with defaults, read and validated once at
 * start-up. A wrong value throws a {@link FhirConfigError} naming the variable, so a misconfigured
 * service never starts (rather than failing on its first request).
 */
import { ConfigError, EnvReader, type Env } from '@bearer-guard/example-shared';

/**
 * Development-only introspection secret: the same default the fleet's authorization server registers
 * for the `fhir-service` client. Refused when `NODE_ENV=production`: set `FHIR_INTROSPECTION_SECRET`.
 */
export const DEV_INTROSPECTION_SECRET = 'dev-only-fhir-introspection-secret-do-not-deploy';

/**
 * Development-only HMAC key of the shared introspection cache (used with `REDIS_URL` only). Refused
 * when `NODE_ENV=production`: set `FHIR_INTROSPECTION_CACHE_KEY` (32 bytes or more, the same on
 * every replica) there.
 */
export const DEV_INTROSPECTION_CACHE_KEY = 'dev-only-fhir-introspection-cache-key-do-not-deploy';

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
   * `REDIS_URL`: share the introspection cache and the rate limit with the other replicas through
   * this Redis. Unset: both in this process's memory.
   */
  redisUrl: string | undefined;
  /**
   * `FHIR_INTROSPECTION_CACHE_KEY`: the HMAC key of the cache's Redis keys and values (32 bytes or
   * more, the same on every replica). Read only with `REDIS_URL`.
   */
  introspectionCacheKey: string | undefined;
  /**
   * `ALLOW_INSECURE_HTTP`: accept plain-http authorization-server URLs beyond loopback (a private
   * container network in a demo; never across networks you do not control). Defaults to `false`.
   */
  allowInsecureHttp: boolean;
}

/** A wrong environment variable. `variable` names it; the message says what to change. */
export class FhirConfigError extends ConfigError {
  override readonly name = 'FhirConfigError';
  readonly code = 'ERR_FHIR_CONFIG';
}

/** A public base URL: absolute http(s), no credentials, query or fragment; trailing `/` dropped. */
function baseUrl(vars: EnvReader, variable: string, fallback: string): string {
  const raw = vars.read(variable) ?? fallback;
  vars.httpUrl(variable, raw, 'https://fhir.example.com/r4');
  return raw.replace(/\/+$/, '');
}

/**
 * Read the FHIR service's configuration from `env` (default `process.env`). `FHIR_BASE_URL` defaults
 * to `http://<FHIR_HOST>:<FHIR_PORT>`; set it when the service is reached through another address.
 *
 * @throws {FhirConfigError} naming the first wrong variable.
 */
export function loadFhirConfig(env: Env = process.env): FhirConfig {
  const vars = new EnvReader(env, FhirConfigError);
  const port = vars.integer('FHIR_PORT', 4300, 0, 65_535);
  const listenHost = vars.host('FHIR_HOST', '127.0.0.1');
  const endpoint = vars.read('FHIR_INTROSPECTION_ENDPOINT');
  const allowInsecureHttp = vars.boolean('ALLOW_INSECURE_HTTP');
  const clientId = vars.read('FHIR_INTROSPECTION_CLIENT_ID') ?? 'fhir-service';
  const defaultBase = `http://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${port}`;
  const redisUrl = vars.redisUrl();
  return {
    port,
    host: listenHost,
    issuer: vars.httpsUrl('AS_ISSUER', vars.read('AS_ISSUER') ?? 'http://127.0.0.1:4000', allowInsecureHttp),
    audience: vars.resourceIndicator('FHIR_AUDIENCE', 'https://fhir.fleet.example/r4'),
    introspectionClientId: clientId,
    introspectionSecret: vars.secret('FHIR_INTROSPECTION_SECRET', DEV_INTROSPECTION_SECRET),
    introspectionEndpoint:
      endpoint === undefined
        ? undefined
        : vars.httpsUrl('FHIR_INTROSPECTION_ENDPOINT', endpoint, allowInsecureHttp),
    baseUrl: baseUrl(vars, 'FHIR_BASE_URL', defaultBase),
    rateLimitPerMinute: vars.integer('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    introspectionCacheSeconds: vars.integer('FHIR_INTROSPECTION_CACHE_SECONDS', 60, 0, 3600),
    redisUrl,
    introspectionCacheKey:
      redisUrl === undefined
        ? undefined
        : vars.secret('FHIR_INTROSPECTION_CACHE_KEY', DEV_INTROSPECTION_CACHE_KEY),
    allowInsecureHttp,
  };
}
