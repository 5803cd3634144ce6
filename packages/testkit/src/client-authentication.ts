import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';

import type {
  IntrospectionAuthAttempt,
  IntrospectionAuthMethod,
  RegisterClientOptions,
} from './introspection-types.js';

/** `client_assertion_type` of RFC 7523 §2.2 client assertions. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** JWS algorithms accepted for `private_key_jwt` client assertions (asymmetric only). */
export const CLIENT_ASSERTION_ALGORITHMS: readonly string[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** The challenge sent with 401 answers to `Authorization` attempts (RFC 6749 §5.2). */
export const BASIC_CHALLENGE = 'Basic realm="testkit"';

/** The client credentials found in a request, not verified yet. */
export interface PresentedCredentials {
  readonly method: IntrospectionAuthAttempt;
  /** The client the request claims to be (Basic user name, else `client_id`, else the assertion's `iss`). */
  readonly clientId: string | undefined;
  /** The secret of `client_secret_basic` / `client_secret_post`, if readable. */
  readonly secret?: string | undefined;
  /** The `client_assertion` of `private_key_jwt`. */
  readonly assertion?: string | undefined;
  /** Whether the request used the `Authorization` header (401 answers then carry a Basic challenge). */
  readonly viaHeader: boolean;
}

/** Outcome of client authentication. */
export type ClientAuthentication =
  | { readonly ok: true; readonly clientId: string; readonly method: IntrospectionAuthMethod }
  | {
      readonly ok: false;
      readonly status: 400 | 401;
      readonly error: 'invalid_client' | 'invalid_request';
      readonly description: string;
      /** Send `WWW-Authenticate: Basic realm="testkit"`. */
      readonly challenge: boolean;
    };

interface RegisteredClient {
  readonly clientSecret: string | undefined;
  readonly keySet: JWTVerifyGetKey | undefined;
}

/** `application/x-www-form-urlencoded` decoding of one Basic credential part (RFC 6749 §2.3.1). */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** Decodes `Basic base64(urlencode(id) ':' urlencode(secret))`; `undefined` if malformed. */
function parseBasic(authorization: string): { clientId: string; secret: string } | undefined {
  const encoded = authorization.slice('basic'.length).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  return clientId === undefined || secret === undefined || clientId === '' ? undefined : { clientId, secret };
}

function unverifiedIssuer(assertion: string | undefined): string | undefined {
  if (assertion === undefined) return undefined;
  try {
    const { iss } = decodeJwt(assertion);
    return iss;
  } catch {
    return undefined;
  }
}

/** Finds which client authentication method a request used, and its credentials (RFC 6749 §2.3). */
export function presentedCredentials(
  authorization: string | undefined,
  form: URLSearchParams,
): PresentedCredentials {
  const formClientId = form.get('client_id') ?? undefined;
  const secret = form.get('client_secret') ?? undefined;
  const assertion = form.get('client_assertion') ?? undefined;
  const assertionType = form.get('client_assertion_type') ?? undefined;
  const viaHeader = authorization !== undefined;
  const viaPost = secret !== undefined;
  const viaJwt = assertion !== undefined || assertionType !== undefined;

  if ([viaHeader, viaPost, viaJwt].filter(Boolean).length > 1) {
    return { method: 'multiple', clientId: formClientId, viaHeader };
  }
  if (authorization !== undefined) {
    if (!/^basic(\s|$)/i.test(authorization))
      return { method: 'unsupported', clientId: undefined, viaHeader };
    const basic = parseBasic(authorization);
    return { method: 'client_secret_basic', clientId: basic?.clientId, secret: basic?.secret, viaHeader };
  }
  if (viaPost) return { method: 'client_secret_post', clientId: formClientId, secret, viaHeader };
  if (viaJwt) {
    return {
      method: assertionType === JWT_BEARER_ASSERTION_TYPE ? 'private_key_jwt' : 'unsupported',
      clientId: formClientId ?? unverifiedIssuer(assertion),
      assertion,
      viaHeader,
    };
  }
  return { method: 'none', clientId: formClientId, viaHeader };
}

/** The clients registered at the introspection endpoint, and their authentication. */
export class ClientRegistry {
  readonly #clients = new Map<string, RegisteredClient>();
  readonly #audiences: string[];

  /** `audiences`: values of which a client assertion's `aud` must contain one. */
  constructor(audiences: readonly string[]) {
    this.#audiences = [...audiences];
  }

  /** Registers a client; throws a TypeError for invalid or duplicate registrations. */
  register(options: RegisterClientOptions): void {
    const { clientId, clientSecret, jwks } = options;
    if (typeof clientId !== 'string' || clientId === '') {
      throw new TypeError('testkit: clientId must be a non-empty string');
    }
    if (this.#clients.has(clientId)) {
      throw new TypeError(`testkit: client ${JSON.stringify(clientId)} is already registered`);
    }
    if (clientSecret !== undefined && (typeof clientSecret !== 'string' || clientSecret === '')) {
      throw new TypeError('testkit: clientSecret must be a non-empty string');
    }
    if (clientSecret === undefined && jwks === undefined) {
      throw new TypeError('testkit: a client needs a clientSecret or a jwks');
    }
    let keySet: JWTVerifyGetKey | undefined;
    if (jwks !== undefined) {
      try {
        keySet = createLocalJWKSet(structuredClone(jwks));
      } catch (error) {
        throw new TypeError('testkit: jwks must be a JWK Set ({ keys: [...] })', { cause: error });
      }
    }
    this.#clients.set(clientId, { clientSecret, keySet });
  }

  /** Verifies `credentials` against the registered clients. */
  async authenticate(
    credentials: PresentedCredentials,
    form: URLSearchParams,
  ): Promise<ClientAuthentication> {
    const { method, clientId, viaHeader } = credentials;
    const fail = (description: string): ClientAuthentication => ({
      ok: false,
      status: 401,
      error: 'invalid_client',
      description,
      challenge: viaHeader || method === 'none',
    });
    switch (method) {
      case 'multiple':
        return {
          ok: false,
          status: 400,
          error: 'invalid_request',
          description: 'more than one client authentication method (RFC 6749 §2.3)',
          challenge: false,
        };
      case 'none':
        return fail('client authentication is required (RFC 7662 §2.1)');
      case 'unsupported':
        return fail('unsupported client authentication method');
      case 'client_secret_basic':
      case 'client_secret_post': {
        const client = clientId === undefined ? undefined : this.#clients.get(clientId);
        const formClientId = form.get('client_id');
        if (clientId === undefined || client === undefined) return fail('unknown client');
        if (method === 'client_secret_basic' && formClientId !== null && formClientId !== clientId) {
          return fail('client_id does not match the Basic credentials');
        }
        if (client.clientSecret === undefined || credentials.secret !== client.clientSecret) {
          return fail('wrong client secret');
        }
        return { ok: true, clientId, method };
      }
      case 'private_key_jwt': {
        const client = clientId === undefined ? undefined : this.#clients.get(clientId);
        if (clientId === undefined || client === undefined) return fail('unknown client');
        if (credentials.assertion === undefined) return fail('client_assertion is missing');
        if (client.keySet === undefined) return fail('the client has no registered keys');
        try {
          await jwtVerify(credentials.assertion, client.keySet, {
            issuer: clientId,
            subject: clientId,
            audience: this.#audiences,
            requiredClaims: ['exp'],
            algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
          });
        } catch {
          return fail('invalid client assertion');
        }
        return { ok: true, clientId, method };
      }
    }
  }
}
