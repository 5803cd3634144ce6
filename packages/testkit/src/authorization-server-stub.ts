import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { createBadTokens } from './bad-tokens.js';
import { publicJwkOf, publicKeyPemOf } from './key-store.js';
import type { KeyStore, StubKey } from './key-store.js';
import { IntrospectionEndpoint, DEFAULT_INTROSPECTION_CLIENT } from './introspection-endpoint.js';
import type {
  IntrospectionClient,
  IntrospectionRequestRecord,
  IssueOpaqueTokenOptions,
  RegisterClientOptions,
} from './introspection-types.js';
import { buildClaims, buildHeader, signPayload } from './mint-token.js';
import { oauthMetadataDocument, openidConfigurationDocument } from './metadata.js';
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

const DEFAULT_AUDIENCE = 'https://api.example';
const ENDPOINTS: readonly EndpointName[] = ['jwks', 'oauthMetadata', 'openidConfiguration', 'introspection'];
const OK: EndpointBehaviour = { mode: 'ok' };

type CounterName = keyof StubCounters;

/**
 * The running stub behind {@link AuthorizationServerStub}; construct it through
 * `startAuthorizationServer`, which listens and generates the initial keys first.
 */
export class StubServer implements AuthorizationServerStub {
  readonly origin: string;
  readonly issuer: string;
  readonly jwksUri: string;
  readonly oauthMetadataUrl: string;
  readonly openidConfigurationUrl: string;
  readonly audience: string;
  readonly introspectionEndpoint: string;
  readonly introspectionClient: IntrospectionClient = DEFAULT_INTROSPECTION_CLIENT;
  readonly bad: BadTokens;

  readonly #server: Server;
  readonly #urls: StubUrls;
  readonly #keys: KeyStore;
  readonly #attackerKeys: StubKey[] = [];
  readonly #router: Router<CounterName>;
  readonly #behaviours = new Map<EndpointName, EndpointBehaviour>();
  readonly #counts: StubCounters = {
    jwks: 0,
    oauthMetadata: 0,
    openidConfiguration: 0,
    introspection: 0,
    attackerJwks: 0,
    introspectionAuthFailures: 0,
  };
  readonly #sockets = new Set<Socket>();
  readonly #pending: PendingWork = { hung: new Set(), timers: new Set() };
  readonly #serveOauthMetadata: boolean;
  readonly #serveOpenidConfiguration: boolean;
  readonly #metadataOverrides: Readonly<Record<string, unknown>>;
  readonly #introspection: IntrospectionEndpoint;
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
    this.introspectionEndpoint = urls.introspectionEndpoint;
    this.#serveOauthMetadata = options.discovery?.oauthAuthorizationServer ?? true;
    this.#serveOpenidConfiguration = options.discovery?.openidConfiguration ?? true;
    this.#metadataOverrides = { ...options.metadata };
    this.bad = createBadTokens({
      keys,
      defaults: this,
      attackerJwksUrl: urls.attackerJwksUri,
      addAttackerKey: (key) => this.#attackerKeys.push(key),
    });
    this.#introspection = new IntrospectionEndpoint({
      urls,
      defaults: this,
      keys,
      behaviour: () => this.#behaviours.get('introspection') ?? OK,
      pending: this.#pending,
      onAuthFailure: () => {
        this.#counts.introspectionAuthFailures += 1;
      },
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

  get lastIntrospectionRequest(): IntrospectionRequestRecord | undefined {
    return this.#introspection.lastRequest;
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

  issueOpaqueToken(claims?: Record<string, unknown>, options?: IssueOpaqueTokenOptions): string {
    return this.#introspection.tokens.issueOpaque(claims, options);
  }

  revoke(token: string): void {
    this.#introspection.tokens.revoke(token);
  }

  registerClient(options: RegisterClientOptions): void {
    this.#introspection.clients.register(options);
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
        respond(res, this.#behaviours.get(endpoint) ?? OK, answer, this.#pending);
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
    this.#router.add(urls.introspectionEndpoint, {
      methods: ['POST'],
      counter: 'introspection',
      handle: this.#introspection.handle,
    });
  }

  #jwksAnswer(): JsonAnswer {
    return { status: 200, body: this.#keys.jwks() };
  }

  #metadataInput() {
    const signingAlgorithms = [...new Set(this.#keys.publishedKeys().map((key) => key.alg))];
    return { urls: this.#urls, signingAlgorithms, overrides: this.#metadataOverrides };
  }
}
