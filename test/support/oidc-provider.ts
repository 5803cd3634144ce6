// A real node-oidc-provider for tests whose flow crosses the authorization server: the
// client-credentials grant, resource indicators (RFC 8707) issuing opaque tokens for one resource and
// JWTs (at+jwt, ES256) for another, introspection (RFC 7662) and revocation (RFC 7009).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations
import Provider from 'oidc-provider';

export const OPAQUE_RESOURCE = 'https://opaque.example';
export const JWT_RESOURCE = 'https://jwt.example';

export interface OidcProviderFixture {
  issuer: string;
  /** The resource server's own credentials for introspection. */
  resourceServer: { clientId: string; clientSecret: string };
  /** A client-credentials caller. */
  caller: { clientId: string; clientSecret: string };
  /** Requests seen per path (e.g. `/token/introspection`). */
  readonly requests: Map<string, number>;
  /**
   * Get an access token for `resource` with the client-credentials grant; with `dpop` (a proof
   * maker for the token endpoint's URL), a DPoP-bound one (RFC 9449 §5).
   */
  token(resource: string, scope: string, dpop?: (htu: string) => Promise<string>): Promise<string>;
  revoke(token: string): Promise<void>;
  /** Stop answering (the socket closes); `start()` listens again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

export async function startOidcProvider(
  options: { accessTokenTTL?: number } = {},
): Promise<OidcProviderFixture> {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${String(port)}`;
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const resourceServer = { clientId: 'resource-server', clientSecret: 'resource-server-secret-0123456789' };
  const caller = { clientId: 'caller', clientSecret: 'caller-secret-0123456789abcdef' };
  const ttl = options.accessTokenTTL ?? 300;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: caller.clientId,
        client_secret: caller.clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: resourceServer.clientId,
        client_secret: resourceServer.clientSecret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: {
      keys: [
        { ...(await exportJWK(rsa.privateKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(ec.privateKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      ],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Only the resource server itself may introspect.
        allowedPolicy: (_ctx: unknown, client: { clientId: string }) =>
          client.clientId === resourceServer.clientId,
      },
      revocation: { enabled: true, allowedPolicy: () => true },
      // RFC 9449: a token request with a DPoP proof gets a token bound by cnf.jkt (token_type DPoP).
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: unknown, _client: unknown, oneOf: unknown) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'read write admin',
          audience: resource,
          accessTokenTTL: ttl,
          accessTokenFormat: resource === JWT_RESOURCE ? 'jwt' : 'opaque',
          ...(resource === JWT_RESOURCE ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        }),
      },
    },
  });
  const requests = new Map<string, number>();
  server.on('request', (req: { url?: string }) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    requests.set(path, (requests.get(path) ?? 0) + 1);
  });
  server.on('request', provider.callback());

  const form = async (
    path: string,
    params: Record<string, string>,
    auth: string,
    extra: Record<string, string> = {},
  ): Promise<Response> =>
    fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', ...extra },
      body: new URLSearchParams(params),
      signal: AbortSignal.timeout(5000),
    });

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
    resourceServer,
    caller,
    requests,
    async token(resource, scope, dpop) {
      const res = await form(
        '/token',
        { grant_type: 'client_credentials', resource, scope },
        basic(caller.clientId, caller.clientSecret),
        dpop === undefined ? {} : { dpop: await dpop(`${issuer}/token`) },
      );
      const body = (await res.json()) as { access_token?: string; error?: string; token_type?: string };
      if (body.access_token === undefined) throw new Error(`token request failed: ${JSON.stringify(body)}`);
      if (dpop !== undefined && body.token_type !== 'DPoP')
        throw new Error(`not a DPoP token: ${JSON.stringify(body.token_type)}`);
      return body.access_token;
    },
    async revoke(token) {
      const res = await form('/token/revocation', { token }, basic(caller.clientId, caller.clientSecret));
      if (res.status !== 200) throw new Error(`revocation failed: ${String(res.status)}`);
    },
    stop,
    async start() {
      await listen(server, port);
    },
    async close() {
      if (server.listening) await stop();
    },
  };
}
