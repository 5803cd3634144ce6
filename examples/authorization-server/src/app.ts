// The fleet's authorization server: node-oidc-provider configured in code, with the fleet's clients,
// one audience per backend (RFC 8707), introspection for the FHIR service (RFC 7662), revocation
// (RFC 7009) and the SMART App Launch patient context.
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLIENT_IDS, clients } from './clients.js';
import { ConfigurationError, type AuthorizationServerConfig } from './config.js';
import { EndpointMetrics } from './endpoint-metrics.js';
import { loadOrCreateKeys } from './keys.js';
import {
  errors,
  Provider,
  type OidcClient,
  type OidcContext,
  type OidcProvider,
  type OidcToken,
} from './oidc-provider.js';
import { connectAdapterClient, redisAdapter, type RedisAdapterClient } from './redis-adapter.js';
import { resourceIndicators } from './resource-servers.js';
import { findAccount, launchContextClaims, tokenResponseLaunchContext } from './smart-context.js';

export interface AuthorizationServer {
  /** The node-oidc-provider instance, for further configuration (`provider.use`, events). */
  provider: OidcProvider;
  /** A Node request listener serving the provider, `GET /health` and `GET /metrics`. */
  callback: RequestListener;
  issuer: string;
  /** Where the provider keeps grants, tokens and sessions: `memory` (this process) or `redis`. */
  storage: 'memory' | 'redis';
  /** Release what the server holds (its Redis connection). */
  close(): Promise<void>;
}

export interface RunningAuthorizationServer {
  issuer: string;
  /** See {@link AuthorizationServer.storage}. */
  storage: 'memory' | 'redis';
  /** Where the server listens, e.g. `http://127.0.0.1:4000`; may differ from the issuer behind a proxy. */
  url: string;
  close(): Promise<void>;
}

// Introspection answers are for the FHIR service only, and only about tokens issued for it: any
// other caller gets `{ "active": false }` (RFC 7662 §2.2 lets the server decline this way).
function introspectionAllowedPolicy(config: AuthorizationServerConfig) {
  return (_ctx: OidcContext, client: OidcClient, token: OidcToken): boolean =>
    client.clientId === CLIENT_IDS.fhirService && token.aud === config.audiences.fhir;
}

// A client may revoke the tokens it was issued, nobody else's (RFC 7009 §2.1).
function revocationAllowedPolicy(_ctx: OidcContext, client: OidcClient, token: OidcToken): boolean {
  if (token.clientId !== client.clientId) {
    throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
  }
  return true;
}

function withProbes(listener: RequestListener, metrics: EndpointMetrics): RequestListener {
  return (req, res) => {
    if (req.url === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'GET' ? '{"status":"ok"}' : undefined);
      return;
    }
    if (req.url === '/metrics' && req.method === 'GET') {
      metrics.serve(res);
      return;
    }
    metrics.count(req);
    listener(req, res);
  };
}

/**
 * Creates the authorization server for `config` without listening: key material is loaded from (or
 * first generated into) `config.dataDir`.
 *
 * Sessions, grants and opaque tokens live in Redis with `config.redisUrl` (redis-adapter.ts: shared
 * by every process on that Redis, kept across restarts), in memory otherwise (the provider's
 * default adapter: a restart forgets them). Development-only: the login and consent pages are the
 * provider's built-in `devInteractions`, which accept any login name and password.
 *
 * @throws {ConfigurationError} if `config.issuer` is unset (it is only left unset for `AS_PORT=0`,
 *   which `start` resolves).
 */
export async function createAuthorizationServer(
  config: AuthorizationServerConfig,
): Promise<AuthorizationServer> {
  const { issuer } = config;
  if (issuer === undefined) {
    throw new ConfigurationError(
      'AS_ISSUER',
      'must be set when the port is not known in advance (AS_PORT=0).',
    );
  }
  const keys = await loadOrCreateKeys(config.dataDir);
  const ttl = config.accessTokenTtl;
  const redis: RedisAdapterClient | undefined =
    config.redisUrl === undefined ? undefined : await connectAdapterClient(config.redisUrl);
  const provider = new Provider(issuer, {
    ...(redis === undefined ? {} : { adapter: redisAdapter(redis) }),
    clients: clients(config, keys.backendServices.publicJwk),
    jwks: { keys: keys.signingKeys },
    clientAuthMethods: ['client_secret_basic', 'private_key_jwt', 'none'],
    findAccount: findAccount(config),
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    // SMART apps name the FHIR server with `aud`; resource-servers.ts takes it as the resource.
    extraParams: ['aud'],
    extraTokenClaims: launchContextClaims(config),
    pkce: { required: () => true },
    // A per-process cookie key: a login in progress does not survive a restart, nor move to another
    // process (a deployment with several would share its keys); grants and tokens do, in Redis.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    ttl: {
      AccessToken: ttl,
      ClientCredentials: ttl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Grant: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: introspectionAllowedPolicy(config) },
      revocation: { enabled: true, allowedPolicy: revocationAllowedPolicy },
      resourceIndicators: resourceIndicators(config),
    },
  });
  provider.use(tokenResponseLaunchContext);
  provider.on('server_error', (_ctx, error) => {
    console.error('authorization server error:', error);
  });
  const metrics = new EndpointMetrics();
  return {
    provider,
    callback: withProbes(provider.callback(), metrics),
    issuer,
    storage: redis === undefined ? 'memory' : 'redis',
    close: async () => {
      if (redis === undefined) return;
      await redis.close().catch(() => {
        redis.destroy();
      });
    },
  };
}

function urlFor(host: string, port: number): string {
  const address = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * Creates the authorization server and listens on `config.host`:`config.port`. With `port: 0` and
 * no issuer, the issuer is `http://127.0.0.1:<port it got>`.
 */
export async function start(config: AuthorizationServerConfig): Promise<RunningAuthorizationServer> {
  // Until the provider is ready (it needs the issuer, which may need the port), answer 503.
  let listener: RequestListener = (_req, res) => {
    res.writeHead(503, { 'retry-after': '1' }).end();
  };
  const server = createServer((req, res) => {
    listener(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let release = (): Promise<void> => Promise.resolve();
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => {
      server.close((error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });
    await release();
  };
  const { port } = server.address() as AddressInfo;
  try {
    const as = await createAuthorizationServer({
      ...config,
      issuer: config.issuer ?? urlFor('127.0.0.1', port),
    });
    listener = as.callback;
    release = () => as.close();
    return { issuer: as.issuer, storage: as.storage, url: urlFor(config.host, port), close };
  } catch (error) {
    await close();
    throw error;
  }
}
