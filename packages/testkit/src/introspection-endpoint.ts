import type { IncomingMessage } from 'node:http';

import { BASIC_CHALLENGE, ClientRegistry, presentedCredentials } from './client-authentication.js';
import type { PresentedCredentials } from './client-authentication.js';
import { acceptsExplicitly, mediaTypeOf, readBody } from './http-request.js';
import type { KeyStore } from './key-store.js';
import { buildHeader, nowSeconds, signPayload } from './mint-token.js';
import type { ClaimDefaults } from './mint-token.js';
import type { StubUrls } from './metadata.js';
import { respond, sendJson } from './respond.js';
import type { JsonAnswer, PendingWork } from './respond.js';
import type { RouteHandler } from './router.js';
import { TokenStatus } from './token-status.js';
import type { IntrospectionClient, IntrospectionRequestRecord } from './introspection-types.js';
import type { EndpointBehaviour } from './types.js';

/** Media type of RFC 9701 JWT introspection responses. */
export const INTROSPECTION_JWT_MEDIA_TYPE = 'application/token-introspection+jwt';

/** `typ` header of RFC 9701 JWT introspection responses. */
export const INTROSPECTION_JWT_TYP = 'token-introspection+jwt';

/** The client registered by default, allowed `client_secret_basic` and `client_secret_post`. */
export const DEFAULT_INTROSPECTION_CLIENT: IntrospectionClient = Object.freeze({
  clientId: 'resource-server',
  clientSecret: 'resource-server-secret',
});

/** Parameters that must not be repeated (RFC 6749 §3.1). */
const SINGLE_PARAMETERS = [
  'token',
  'token_type_hint',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
] as const;

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

/** What the introspection endpoint needs from the stub. */
export interface IntrospectionEndpointOptions {
  readonly urls: StubUrls;
  /** Defaults of opaque-token claims (`iss`, `aud`). */
  readonly defaults: ClaimDefaults;
  readonly keys: KeyStore;
  /** The endpoint's current behaviour, read when a request arrives. */
  readonly behaviour: () => EndpointBehaviour;
  readonly pending: PendingWork;
  /** Called for each rejected client authentication. */
  readonly onAuthFailure: () => void;
}

function errorAnswer(
  status: number,
  error: string,
  description: string,
  headers?: Record<string, string>,
): JsonAnswer {
  const body = { error, error_description: description };
  return headers === undefined ? { status, body } : { status, body, headers };
}

/**
 * The RFC 7662 introspection endpoint: the tokens it knows (opaque tokens, the stub's own JWTs,
 * revocations), the registered clients, and the route handler.
 */
export class IntrospectionEndpoint {
  /** Opaque tokens, revocations and the verification of the stub's own JWTs. */
  readonly tokens: TokenStatus;
  /** Registered clients, starting with {@link DEFAULT_INTROSPECTION_CLIENT}. */
  readonly clients: ClientRegistry;
  readonly #options: IntrospectionEndpointOptions;
  #last: IntrospectionRequestRecord | undefined;

  constructor(options: IntrospectionEndpointOptions) {
    const { urls } = options;
    this.#options = options;
    this.tokens = new TokenStatus(options.defaults, options.keys);
    this.clients = new ClientRegistry([urls.issuer, urls.introspectionEndpoint, urls.tokenEndpoint]);
    this.clients.register({ ...DEFAULT_INTROSPECTION_CLIENT });
  }

  /** The last request received, whatever the behaviour. */
  get lastRequest(): IntrospectionRequestRecord | undefined {
    return this.#last;
  }

  /** Route handler for `POST /introspect` (the router has already counted the request). */
  readonly handle: RouteHandler = (req, res) => {
    const behaviour = this.#options.behaviour();
    readBody(req).then(
      (body) => {
        if (res.destroyed) return;
        if (body === undefined) {
          sendJson(res, 413, { error: 'invalid_request', error_description: 'request body too large' });
          return;
        }
        const isForm = mediaTypeOf(req.headers['content-type']) === FORM_MEDIA_TYPE;
        const form = new URLSearchParams(isForm ? body : '');
        const credentials = presentedCredentials(req.headers.authorization, form);
        this.#record(req, form, credentials);
        respond(res, behaviour, () => this.#answer(req, isForm, form, credentials), this.#options.pending);
      },
      () => {
        res.destroy();
      },
    );
  };

  #record(req: IncomingMessage, form: URLSearchParams, credentials: PresentedCredentials): void {
    const tokens = form.getAll('token');
    this.#last = Object.freeze({
      token: tokens.length === 1 ? tokens[0] : undefined,
      tokenTypeHint: form.get('token_type_hint') ?? undefined,
      clientId: credentials.clientId,
      authMethod: credentials.method,
      accept: req.headers.accept,
      contentType: req.headers['content-type'],
    });
  }

  async #answer(
    req: IncomingMessage,
    isForm: boolean,
    form: URLSearchParams,
    credentials: PresentedCredentials,
  ): Promise<JsonAnswer> {
    const repeated = SINGLE_PARAMETERS.find((name) => form.getAll(name).length > 1);
    if (repeated !== undefined) {
      return errorAnswer(400, 'invalid_request', `the ${repeated} parameter is repeated`);
    }
    // The client is authenticated first: an unauthenticated caller learns nothing else (RFC 7662 §4).
    const client = await this.clients.authenticate(credentials, form);
    if (!client.ok) {
      this.#options.onAuthFailure();
      const headers = client.challenge ? { 'WWW-Authenticate': BASIC_CHALLENGE } : undefined;
      return errorAnswer(client.status, client.error, client.description, headers);
    }
    if (!isForm) {
      return errorAnswer(400, 'invalid_request', `the request body must be ${FORM_MEDIA_TYPE}`);
    }
    const token = form.get('token');
    if (token === null || token === '') {
      return errorAnswer(400, 'invalid_request', 'the token parameter is required');
    }
    const claims = await this.tokens.activeClaims(token);
    const result = claims === undefined ? { active: false } : { active: true, ...claims };
    if (!acceptsExplicitly(req.headers.accept, INTROSPECTION_JWT_MEDIA_TYPE)) {
      return { status: 200, body: result };
    }
    return {
      status: 200,
      contentType: INTROSPECTION_JWT_MEDIA_TYPE,
      body: await this.#signResponse(client.clientId, result),
    };
  }

  /** RFC 9701 §5: the answer as a JWT signed by the default signing key. */
  async #signResponse(clientId: string, result: Record<string, unknown>): Promise<string> {
    const key = this.#options.keys.defaultKey();
    const payload = {
      iss: this.#options.urls.issuer,
      aud: clientId,
      iat: nowSeconds(),
      token_introspection: result,
    };
    return signPayload(key, payload, buildHeader(key, INTROSPECTION_JWT_TYP));
  }
}
