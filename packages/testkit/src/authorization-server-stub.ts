import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { createBadTokens } from './bad-tokens.js';
import { KeyStore, publicJwkOf, publicKeyPemOf } from './key-store.js';
import type { StubKey } from './key-store.js';
import { buildClaims, buildHeader, signPayload } from './mint-token.js';
import {
  buildStubUrls,
  oauthMetadataDocument,
  openidConfigurationDocument,
  validateIssuerPath,
} from './metadata.js';
import type { StubUrls } from './metadata.js';
import { respond, sendJson, validateBehaviour } from './respond.js';
import type { JsonAnswer, PendingWork } from './respond.js';
import { Router, notImplemented } from './router.js';
import type { RouteHandler } from './router.js';
import type {
  AddKeyOptions,
  AuthorizationServerStub,
  BadTokens,
  EndpointBehaviour,
  EndpointName,
  RotateKeysOptions,
  SignOptions,
  StartAuthorizationServerOptions,
  StubAlgorithm,
  StubCounters,
  TokenClaims,
} from './types.js';

const DEFAULT_ALGORITHMS: readonly StubAlgorithm[] = ['ES256', 'RS256', 'EdDSA'];
const DEFAULT_AUDIENCE = 'https://api.example';
const ENDPOINTS: readonly EndpointName[] = ['jwks', 'oauthMetadata', 'openidConfiguration'];

type CounterName = keyof StubCounters;

class StubServer implements AuthorizationServerStub {
  readonly origin: string;
  readonly issuer: string;
  readonly jwksUri: string;
  readonly oauthMetadataUrl: string;
  readonly openidConfigurationUrl: string;
  readonly audience: string;
  readonly bad: BadTokens;

  readonly #server: Server;
  readonly #urls: StubUrls;
  readonly #keys: KeyStore;
  readonly #attackerKeys: StubKey[] = [];
  readonly #router: Router<CounterName>;
  readonly #behaviours = new Map<EndpointName, EndpointBehaviour>();
  readonly #counts: StubCounters = { jwks: 0, oauthMetadata: 0, openidConfiguration: 0, attackerJwks: 0 };
  readonly #sockets = new Set<Socket>();
  readonly #pending: PendingWork = { hung: new Set(), timers: new Set() };
  readonly #serveOauthMetadata: boolean;
  readonly #serveOpenidConfiguration: boolean;
  readonly #metadataOverrides: Readonly<Record<string, unknown>>;
  #closing: Promise<void> | undefined;

  constructor(server: Server, urls: StubUrls, keys: KeyStore, options: StartAuthorizationServerOptions) {
    this.#server = server;
    this.#urls = urls;
    this.#keys = keys;
    this.origin = urls.origin;
    this.issuer = urls.issuer;
    this.jwksUri = urls.jwksUri;
    this.oauthMetadataUrl = urls.oauthMetadataUrl;
    this.openidConfigurationUrl = urls.openidConfigurationUrl;
    this.audience = options.audience ?? DEFAULT_AUDIENCE;
    this.#serveOauthMetadata = options.discovery?.oauthAuthorizationServer ?? true;
    this.#serveOpenidConfiguration = options.discovery?.openidConfiguration ?? true;
    this.#metadataOverrides = { ...options.metadata };
    this.bad = createBadTokens({
      keys,
      defaults: this,
      attackerJwksUrl: urls.attackerJwksUri,
      addAttackerKey: (key) => this.#attackerKeys.push(key),
    });
    this.#router = new Router(urls.origin, (counter) => {
      this.#counts[counter] += 1;
    });
    this.#registerRoutes();
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#router.dispatch(req, res);
    });
  }

  get counters(): StubCounters {
    return { ...this.#counts };
  }

  get attackerHits(): number {
    return this.#counts.attackerJwks;
  }

  resetCounters(): void {
    for (const name of Object.keys(this.#counts) as CounterName[]) this.#counts[name] = 0;
  }

  setBehaviour(endpoint: EndpointName, behaviour: EndpointBehaviour): void {
    if (!ENDPOINTS.includes(endpoint))
      throw new TypeError(`testkit: unknown endpoint ${JSON.stringify(endpoint)}`);
    validateBehaviour(behaviour);
    this.#behaviours.set(endpoint, { ...behaviour });
  }

  async sign(claims?: TokenClaims, options: SignOptions = {}): Promise<string> {
    const key = this.#keys.signingKey(options.alg, options.kid);
    return signPayload(
      key,
      buildClaims(this, claims, options),
      buildHeader(key, options.typ, options.header),
    );
  }

  async addKey(alg: StubAlgorithm, options?: AddKeyOptions): Promise<string> {
    return this.#keys.add(alg, options);
  }

  publishKey(kid: string): void {
    this.#keys.publish(kid);
  }

  unpublishKey(kid: string): void {
    this.#keys.unpublish(kid);
  }

  removeKey(kid: string): void {
    this.#keys.remove(kid);
  }

  async rotateKeys(alg?: StubAlgorithm, options: RotateKeysOptions = {}): Promise<string> {
    return this.#keys.rotate(alg, options.retireOld ?? false);
  }

  jwks(): { keys: Record<string, unknown>[] } {
    return this.#keys.jwks();
  }

  async publicKeyPem(kid?: string): Promise<string> {
    return publicKeyPemOf(kid === undefined ? this.#keys.defaultKey() : this.#keys.get(kid));
  }

  publicJwk(kid?: string): Record<string, unknown> {
    return publicJwkOf(kid === undefined ? this.#keys.defaultKey() : this.#keys.get(kid));
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const timer of this.#pending.timers) clearTimeout(timer);
      this.#pending.timers.clear();
      // close() stops accepting; destroying the sockets ends keep-alive and hung requests at once.
      this.#server.close(() => {
        resolve();
      });
      for (const socket of this.#sockets) socket.destroy();
      this.#pending.hung.clear();
    });
    return this.#closing;
  }

  #registerRoutes(): void {
    const urls = this.#urls;
    const get = ['GET', 'HEAD'];
    const behaving =
      (endpoint: EndpointName, answer: () => JsonAnswer): RouteHandler =>
      (_req, res) => {
        respond(res, this.#behaviours.get(endpoint) ?? { mode: 'ok' }, answer, this.#pending);
      };
    const notServed: JsonAnswer = { status: 404, body: { error: 'not_found' } };

    this.#router.add(urls.jwksUri, {
      methods: get,
      counter: 'jwks',
      handle: behaving('jwks', () => this.#jwksAnswer()),
    });
    this.#router.add(urls.oauthMetadataUrl, {
      methods: get,
      counter: 'oauthMetadata',
      handle: behaving('oauthMetadata', () =>
        this.#serveOauthMetadata
          ? { status: 200, body: oauthMetadataDocument(this.#metadataInput()) }
          : notServed,
      ),
    });
    this.#router.add(urls.openidConfigurationUrl, {
      methods: get,
      counter: 'openidConfiguration',
      handle: behaving('openidConfiguration', () =>
        this.#serveOpenidConfiguration
          ? { status: 200, body: openidConfigurationDocument(this.#metadataInput()) }
          : notServed,
      ),
    });
    this.#router.add(urls.attackerJwksUri, {
      methods: get,
      counter: 'attackerJwks',
      handle: (_req, res) => {
        sendJson(res, 200, { keys: this.#attackerKeys.map(publicJwkOf) });
      },
    });
    this.#router.add(urls.authorizationEndpoint, { methods: get, handle: notImplemented });
    this.#router.add(urls.tokenEndpoint, { methods: ['POST'], handle: notImplemented });
    this.#router.add(urls.introspectionEndpoint, { methods: ['POST'], handle: notImplemented });
  }

  #jwksAnswer(): JsonAnswer {
    return { status: 200, body: this.#keys.jwks() };
  }

  #metadataInput() {
    const signingAlgorithms = [...new Set(this.#keys.publishedKeys().map((key) => key.alg))];
    return { urls: this.#urls, signingAlgorithms, overrides: this.#metadataOverrides };
  }
}

/**
 * Starts an authorization-server stub: a real `node:http` server on `127.0.0.1` with an ephemeral
 * port, serving RFC 8414 and OpenID Connect discovery documents, a JWKS of freshly generated keys,
 * and an attacker JWKS for `jku`/`x5u` tests. `/token`, `/introspect` and `/authorize` answer 501.
 *
 * @example
 * ```ts
 * const as = await startAuthorizationServer({ issuerPath: '/tenant-a' });
 * try {
 *   const token = await as.sign({ scope: 'read' });
 *   as.setBehaviour('jwks', { mode: 'hang' });
 *   // … exercise the API under test with `token`, `as.issuer`, `as.jwksUri` …
 * } finally {
 *   await as.close();
 * }
 * ```
 */
export async function startAuthorizationServer(
  options: StartAuthorizationServerOptions = {},
): Promise<AuthorizationServerStub> {
  const issuerPath = options.issuerPath ?? '';
  validateIssuerPath(issuerPath);
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  const [defaultAlg] = algorithms;
  if (defaultAlg === undefined) throw new TypeError('testkit: algorithms must not be empty');

  const keys = new KeyStore(defaultAlg);
  for (const alg of algorithms) await keys.add(alg);

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  try {
    return new StubServer(
      server,
      buildStubUrls(`http://127.0.0.1:${String(port)}`, issuerPath),
      keys,
      options,
    );
  } catch (error) {
    server.close();
    throw error;
  }
}
