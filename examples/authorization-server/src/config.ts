// Start-up configuration from environment variables: every value is checked once, before the server
// starts, and a bad value throws a ConfigurationError that names the variable to set (STYLE §10.6).
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * Client secrets used when the variable is unset. They are published in this repository, so they
 * are for local development only: `main.ts` warns when one is in use, and `NODE_ENV=production`
 * refuses them.
 */
export const DEV_ONLY_SECRETS = {
  GATEWAY_CLIENT_SECRET: 'dev-only-gateway-secret-do-not-deploy',
  FHIR_INTROSPECTION_SECRET: 'dev-only-fhir-introspection-secret-do-not-deploy',
  DEMO_CLIENT_SECRET: 'dev-only-demo-client-secret-do-not-deploy',
} as const;

/** `<repo>/.data/authorization-server`, found from this file (src/ or dist/), not from the cwd. */
export const DEFAULT_DATA_DIR = fileURLToPath(
  new URL('../../../.data/authorization-server', import.meta.url),
);

export interface AuthorizationServerConfig {
  /** `AS_PORT`; `0` picks a free port. */
  port: number;
  /** `AS_HOST`: the address to listen on. */
  host: string;
  /**
   * `AS_ISSUER`, an origin (no path). Left `undefined` only when `AS_PORT` is `0` and `AS_ISSUER`
   * is unset: `start()` then derives it from the port it got.
   */
  issuer: string | undefined;
  /** `AS_DATA_DIR`: where the signing keys and the backend-services client key are kept. */
  dataDir: string;
  secrets: { gateway: string; fhirIntrospection: string; demoClient: string };
  audiences: { gateway: string; orders: string; fhir: string };
  /** `SMART_REDIRECT_URI`: the one redirect URI registered for the `smart-app` client. */
  smartRedirectUri: string;
  /** `ACCESS_TOKEN_TTL`, in seconds. */
  accessTokenTtl: number;
  /**
   * `REDIS_URL` (`redis://` or `rediss://`): keep grants, tokens and sessions in Redis (see
   * redis-adapter.ts), shared by every process that uses it and kept across restarts. Unset: in
   * memory, per process.
   */
  redisUrl: string | undefined;
}

/** A missing or wrong environment variable. `variable` names the one to set. */
export class ConfigurationError extends TypeError {
  readonly code = 'ERR_AS_CONFIGURATION';
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable} ${message}`);
    this.name = 'ConfigurationError';
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** An unset or empty variable takes its default. */
function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function got(value: string): string {
  return `got ${JSON.stringify(value)}`;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number, what: string): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigurationError(name, `must be ${what} (an integer from ${min} to ${max}); ${got(raw)}.`);
  }
  return value;
}

function absoluteUri(env: Env, name: string, fallback: string): string {
  const raw = read(env, name) ?? fallback;
  const url = URL.parse(raw);
  if (url === null) throw new ConfigurationError(name, `must be an absolute URI; ${got(raw)}.`);
  if (url.hash !== '' || raw.includes('#')) {
    throw new ConfigurationError(name, `must not have a fragment (RFC 8707 §2); ${got(raw)}.`);
  }
  return raw;
}

function httpUrl(env: Env, name: string, fallback: string): string {
  const raw = absoluteUri(env, name, fallback);
  if (!raw.startsWith('https://') && !raw.startsWith('http://')) {
    throw new ConfigurationError(name, `must be an http: or https: URL; ${got(raw)}.`);
  }
  return raw;
}

function issuer(env: Env, port: number): string | undefined {
  const raw = read(env, 'AS_ISSUER');
  if (raw === undefined) return port === 0 ? undefined : `http://127.0.0.1:${port}`;
  const url = URL.parse(httpUrl(env, 'AS_ISSUER', raw));
  if (url?.pathname !== '/' || url.search !== '' || raw.endsWith('/')) {
    throw new ConfigurationError(
      'AS_ISSUER',
      `must be an origin such as https://as.example.com (no path, query or trailing slash): this server answers at the root; ${got(raw)}.`,
    );
  }
  return url.origin;
}

function host(env: Env): string {
  const raw = read(env, 'AS_HOST') ?? '127.0.0.1';
  if (isIP(raw) === 0 && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(raw)) {
    throw new ConfigurationError('AS_HOST', `must be an IP address or a host name; ${got(raw)}.`);
  }
  return raw;
}

// The dev-only values are published in this repository: in production they are refused whether
// they come from the default or are set explicitly (a copied .env file, a compose default).
function secret(env: Env, name: keyof typeof DEV_ONLY_SECRETS): string {
  const raw = read(env, name);
  if (env['NODE_ENV'] === 'production' && (raw === undefined || raw === DEV_ONLY_SECRETS[name])) {
    throw new ConfigurationError(
      name,
      raw === undefined
        ? 'is required when NODE_ENV=production (the default is the published development-only value).'
        : 'is the published development-only value, refused when NODE_ENV=production; set a secret of your own.',
    );
  }
  if (raw === undefined) return DEV_ONLY_SECRETS[name];
  // Never echo a secret, not even a wrong one: only its length.
  if (raw.length < 16) {
    throw new ConfigurationError(name, `must be at least 16 characters long; got ${raw.length}.`);
  }
  return raw;
}

function redisUrl(env: Env): string | undefined {
  const raw = read(env, 'REDIS_URL');
  if (raw === undefined) return undefined;
  const url = URL.parse(raw);
  if (url === null || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    // The value may hold a password: never echoed.
    throw new ConfigurationError(
      'REDIS_URL',
      'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379.',
    );
  }
  return raw;
}

/**
 * Reads the configuration from `env` (defaults to `process.env`). Unset or empty variables take
 * their defaults; see the README for the table.
 *
 * @throws {ConfigurationError} naming the first variable that is wrong, or a `*_SECRET` left at (or
 *   set to) its development-only value when `NODE_ENV=production`.
 */
export function loadConfig(env: Env = process.env): AuthorizationServerConfig {
  const port = integer(env, 'AS_PORT', 4000, 0, 65_535, 'a TCP port');
  const audiences = {
    gateway: absoluteUri(env, 'GATEWAY_AUDIENCE', 'https://gateway.fleet.example'),
    orders: absoluteUri(env, 'ORDERS_AUDIENCE', 'https://orders.fleet.example'),
    fhir: absoluteUri(env, 'FHIR_AUDIENCE', 'https://fhir.fleet.example/r4'),
  };
  if (new Set(Object.values(audiences)).size !== 3) {
    const name = audiences.orders === audiences.gateway ? 'ORDERS_AUDIENCE' : 'FHIR_AUDIENCE';
    throw new ConfigurationError(name, 'must differ from the other audiences: each backend has its own.');
  }
  return {
    port,
    host: host(env),
    issuer: issuer(env, port),
    dataDir: read(env, 'AS_DATA_DIR') ?? DEFAULT_DATA_DIR,
    secrets: {
      gateway: secret(env, 'GATEWAY_CLIENT_SECRET'),
      fhirIntrospection: secret(env, 'FHIR_INTROSPECTION_SECRET'),
      demoClient: secret(env, 'DEMO_CLIENT_SECRET'),
    },
    audiences,
    smartRedirectUri: httpUrl(env, 'SMART_REDIRECT_URI', 'http://127.0.0.1:4400/callback'),
    accessTokenTtl: integer(env, 'ACCESS_TOKEN_TTL', 300, 1, 86_400, 'a lifetime in seconds'),
    redisUrl: redisUrl(env),
  };
}

/** The variables whose dev-only default is in use, for a start-up warning. */
export function devOnlySecretsInUse(config: AuthorizationServerConfig): string[] {
  const inUse: string[] = [];
  if (config.secrets.gateway === DEV_ONLY_SECRETS.GATEWAY_CLIENT_SECRET) inUse.push('GATEWAY_CLIENT_SECRET');
  if (config.secrets.fhirIntrospection === DEV_ONLY_SECRETS.FHIR_INTROSPECTION_SECRET) {
    inUse.push('FHIR_INTROSPECTION_SECRET');
  }
  if (config.secrets.demoClient === DEV_ONLY_SECRETS.DEMO_CLIENT_SECRET) inUse.push('DEMO_CLIENT_SECRET');
  return inUse;
}
