// The stub RFC 7662 introspection endpoint of the benchmark, on 127.0.0.1. server.mjs starts one
// inside each introspecting server process (so on its pinned core: its work counts as the
// server's); replicas.mjs starts one in the orchestrator, shared by the replicas it counts calls for.
//
// `POST /introspect` with a form body holding `token`, the caller authenticated with HTTP Basic
// (`bench-rs:bench-rs-secret`, else 401 `invalid_client`). The bench tokens are JWTs, so
// "introspecting" one is verifying it with jose against the bench JWK Set: `{ active: true,
// ...claims, token_type: 'Bearer' }` or `{ active: false }`. Opaque tokens registered in `opaque`
// answer their claims. It counts the calls, the distinct tokens it saw and the calls per token.

import http from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { AUDIENCE, ISSUER } from './tokens.mjs';

/** The resource server's credentials at the stub endpoint (client_secret_basic). */
export const INTROSPECTION_CLIENT = { id: 'bench-rs', secret: 'bench-rs-secret' };

/** The client credentials of an `Authorization: Basic` header (RFC 6749 §2.3.1: form-encoded, then base64). */
function basicCredentials(header) {
  if (typeof header !== 'string' || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (value) => decodeURIComponent(value.replace(/\+/g, ' '));
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/**
 * Start the endpoint. `opaque` maps opaque tokens to the claims of their active answer.
 * Resolves to `{ url, counts, close() }`; `counts` is live: `{ calls, refused, inactive, tokens,
 * perToken }` (`tokens`: the distinct tokens seen, a Set; `perToken`: calls per opaque token).
 * @param {{ keys: object[] }} jwks
 * @param {{ opaque?: Map<string, Record<string, unknown>> }} [options]
 */
export function startIntrospectionServer(jwks, { opaque = new Map() } = {}) {
  const counts = { calls: 0, refused: 0, inactive: 0, tokens: new Set(), perToken: new Map() };
  const keySet = createLocalJWKSet(jwks);
  const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], typ: 'at+jwt' };
  const send = (res, status, body, headers = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/introspect') {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      counts.calls++;
      const client = basicCredentials(req.headers.authorization);
      if (client?.id !== INTROSPECTION_CLIENT.id || client.secret !== INTROSPECTION_CLIENT.secret) {
        counts.refused++;
        send(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="introspection"' });
        return;
      }
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token');
      if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') || !token) {
        send(res, 400, { error: 'invalid_request' });
        return;
      }
      counts.tokens.add(token);
      if (opaque.has(token)) counts.perToken.set(token, (counts.perToken.get(token) ?? 0) + 1);
      const claims = opaque.get(token);
      if (claims !== undefined) {
        send(res, 200, { active: true, ...claims, token_type: 'Bearer' });
        return;
      }
      jwtVerify(token, keySet, verifyOptions).then(
        ({ payload }) => {
          send(res, 200, { active: true, ...payload, token_type: 'Bearer' });
        },
        () => {
          counts.inactive++;
          send(res, 200, { active: false });
        },
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}/introspect`,
        counts,
        close: () => {
          server.closeAllConnections(); // keep-alive sockets of the callers
          return new Promise((done) => server.close(() => done()));
        },
      }),
    );
  });
}
