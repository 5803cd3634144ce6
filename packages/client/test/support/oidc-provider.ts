// A real node-oidc-provider on 127.0.0.1 for the token client: client-credentials clients using
// client_secret_basic, client_secret_post and private_key_jwt (ES256, RFC 7523), resource
// indicators (RFC 8707) with JWT access tokens for ORDERS (so tests can read `exp`) and opaque ones
// for BILLING, a configurable token lifetime, DPoP with or without nonces, and a count of requests
// per path.
// Same pattern as test/support/oidc-provider.ts at the repository root.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations
import Provider from 'oidc-provider';

export const ORDERS = 'https://orders.example';
export const BILLING = 'https://billing.example';

export interface SecretClient {
  clientId: string;
  clientSecret: string;
}

export interface OidcProviderFixture {
  issuer: string;
  tokenEndpoint: string;
  /** client_secret_basic */
  basicClient: SecretClient;
  /** client_secret_post */
  postClient: SecretClient;
  /** private_key_jwt, ES256; `privateJwk` is the private key whose public part is registered. */
  jwtClient: { clientId: string; privateJwk: JWK };
  /** Requests seen per path (`/token`, `/.well-known/openid-configuration`, …). */
  readonly requests: Map<string, number>;
  count(path: string): number;
  /** Stop answering (connections are closed, the port refuses); `start()` listens again on it. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

export interface OidcProviderOptions {
  accessTokenTTL?: number;
  /**
   * DPoP (RFC 9449): `on` (node-oidc-provider's default: a request with a proof gets a DPoP-bound
   * token), `nonce` (every proof must carry a server nonce, §8), `off` (proofs are ignored and
   * tokens are Bearer, as from a server without DPoP support).
   */
  dpop?: 'on' | 'nonce' | 'off';
}

export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<OidcProviderFixture> {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${String(port)}`;
  // RS256 because oidc-provider signs ID tokens with it by default; ES256 for the JWT access tokens.
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const signing = await generateKeyPair('ES256', { extractable: true });
  const clientKey = await generateKeyPair('ES256', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(clientKey.privateKey)), kid: 'gateway-key-1', alg: 'ES256' };
  const publicJwk: JWK = {
    ...(await exportJWK(clientKey.publicKey)),
    kid: 'gateway-key-1',
    alg: 'ES256',
    use: 'sig',
  };
  const basicClient = { clientId: 'gateway', clientSecret: 'gateway-secret-6f1c0b9e2d7a4c58' };
  const postClient = { clientId: 'gateway-post', clientSecret: 'gateway-post-secret-93a7e1d04b' };
  const ttl = options.accessTokenTTL ?? 300;
  const common = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
  const provider = new Provider(issuer, {
    clients: [
      { ...common, client_id: basicClient.clientId, client_secret: basicClient.clientSecret, token_endpoint_auth_method: 'client_secret_basic' },
      { ...common, client_id: postClient.clientId, client_secret: postClient.clientSecret, token_endpoint_auth_method: 'client_secret_post' },
      {
        ...common,
        client_id: 'gateway-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [publicJwk] },
      },
    ],
    jwks: {
      keys: [
        { ...(await exportJWK(rsa.privateKey)), kid: 'as-rsa', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(signing.privateKey)), kid: 'as-ec', alg: 'ES256', use: 'sig' },
      ],
    },
    features: {
      dPoP:
        options.dpop === 'off'
          ? { enabled: false }
          : options.dpop === 'nonce'
            ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
            : { enabled: true },
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: unknown, _client: unknown, oneOf: unknown) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'orders:read orders:write billing:read',
          audience: resource,
          accessTokenTTL: ttl,
          accessTokenFormat: resource === ORDERS ? 'jwt' : 'opaque',
          ...(resource === ORDERS ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        }),
      },
    },
  }); // prettier-ignore
  const requests = new Map<string, number>();
  server.on('request', (req: { url?: string }) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    requests.set(path, (requests.get(path) ?? 0) + 1);
  });
  server.on('request', provider.callback());

  const stop = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  };

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    basicClient,
    postClient,
    jwtClient: { clientId: 'gateway-jwt', privateJwk },
    requests,
    count: (path) => requests.get(path) ?? 0,
    stop,
    async start() {
      await listen(server, port);
    },
    async close() {
      if (server.listening) await stop();
    },
  };
}
