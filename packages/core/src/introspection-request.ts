import { compactVerify, type JWTVerifyGetKey } from 'jose';
import type { KeyObject } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import type { IntrospectionMessage } from './diagnostics.js';
import { SignatureError } from './introspection-failure.js';
import { boundedFetch, mediaType, UpstreamError } from './internal/fetch-json.js';

const JSON_TYPE = 'application/json';
/** RFC 9701 §5. */
const JWT_TYPE = 'application/token-introspection+jwt';

/** What one introspection request needs, fixed at construction. */
export interface IntrospectionWire {
  clientId: string;
  /** RFC 9701: ask for, and verify, a signed JWT answer. */
  jwtResponse: boolean;
  timeout: number;
  maxResponseBytes: number;
  /** The issuer's keys and allowed algorithms, for RFC 9701 JWT answers. */
  keys: JWTVerifyGetKey | KeyObject | Uint8Array | undefined;
  algorithms: readonly string[];
}

/**
 * One RFC 7662 request and its answer's claims, on oauth4webapi's wire format
 * (`introspectionRequest` / `processIntrospectionResponse`), within the deadline and size cap.
 * Throws what {@link classifyIntrospectionError} sorts into inactive tokens and outages.
 *
 * @see RFC 7662 §2.1, §2.2; RFC 9701 §5
 */
export async function requestIntrospection(
  as: oauth.AuthorizationServer,
  token: string,
  clientAuth: oauth.ClientAuth,
  wire: IntrospectionWire,
  message?: IntrospectionMessage,
): Promise<Record<string, unknown>> {
  const client: oauth.Client = { client_id: wire.clientId };
  const response = await oauth.introspectionRequest(as, client, clientAuth, token, {
    additionalParameters: { token_type_hint: 'access_token' },
    requestJwtResponse: wire.jwtResponse,
    [oauth.customFetch]: (url: string, init: RequestInit) => fetchAnswer(url, init, wire, message),
    // The endpoint's scheme was vetted by the options (https, or http on loopback / when allowed).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    [oauth.allowInsecureRequests]: true,
  });
  const raw = wire.jwtResponse ? response.clone() : undefined;
  try {
    const result = await oauth.processIntrospectionResponse(as, client, response);
    if (raw !== undefined) await verifyJwtResponse(raw, wire);
    return { ...result };
  } catch (error) {
    // RFC 7662 §2.2: `active` is a boolean. `"active": "true"` is not an active token: an answer,
    // not an outage, so it is a 401 and not a 503.
    if (error instanceof oauth.OperationProcessingError && error.code === oauth.INVALID_RESPONSE) {
      const body = (error.cause as { body?: unknown } | undefined)?.body;
      if (typeof body === 'object' && body !== null && 'active' in body) return { active: false };
    }
    throw error;
  }
}

/**
 * The introspection endpoint's answer within the deadline and size cap. A 200 answer must be of
 * the media type we asked for (RFC 7662 §2.2 `application/json`, RFC 9701 §5 the JWT type with
 * `jwtResponse`), compared case-insensitively with parameters allowed: oauth4webapi checks it
 * only when the body fails to parse. The media type is then written lower-case, as oauth4webapi
 * compares it exactly.
 */
async function fetchAnswer(
  url: string,
  init: RequestInit,
  wire: IntrospectionWire,
  message?: IntrospectionMessage,
): Promise<Response> {
  const answerType = wire.jwtResponse ? JWT_TYPE : JSON_TYPE;
  const observe = message && ((_url: string, status: number | undefined) => (message.status = status));
  const response = await boundedFetch(url, init, {
    timeout: wire.timeout,
    maxBytes: wire.maxResponseBytes,
    observe,
  });
  const contentType = response.headers.get('content-type');
  const type = mediaType(contentType);
  if (response.status === 200 && type !== answerType) {
    throw new UpstreamError('content-type', url, `content-type ${String(contentType)} is not ${answerType}`);
  }
  if (contentType !== null && !contentType.startsWith(type)) {
    const semicolon = contentType.indexOf(';');
    response.headers.set('content-type', semicolon === -1 ? type : type + contentType.slice(semicolon));
  }
  return response;
}

/** RFC 9701 §5: the JWT answer's signature, with the issuer's keys (oauth4webapi checked its claims). */
async function verifyJwtResponse(response: Response, wire: IntrospectionWire): Promise<void> {
  const keys = wire.keys;
  if (keys === undefined) throw new Error('no key set to verify the JWT introspection response');
  try {
    const jwt = await response.text();
    const options = { algorithms: [...wire.algorithms] };
    await (typeof keys === 'function'
      ? compactVerify(jwt, keys, options)
      : compactVerify(jwt, keys, options));
  } catch (cause) {
    throw new SignatureError('the JWT introspection response signature is invalid', { cause });
  }
}
