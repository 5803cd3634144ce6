import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { StubServer } from './authorization-server-stub.js';
import { KeyStore } from './key-store.js';
import { buildStubUrls, validateIssuerPath } from './metadata.js';
import type { AuthorizationServerStub, StartAuthorizationServerOptions, StubAlgorithm } from './types.js';

const DEFAULT_ALGORITHMS: readonly StubAlgorithm[] = ['ES256', 'RS256', 'EdDSA'];

/**
 * Starts an authorization-server stub: a real `node:http` server on `127.0.0.1` with an ephemeral
 * port, serving RFC 8414 and OpenID Connect discovery documents, a JWKS of freshly generated keys,
 * an attacker JWKS for `jku`/`x5u` tests, and an RFC 7662 introspection endpoint (`/introspect`)
 * for opaque tokens and its own JWTs. `/token` and `/authorize` answer 501.
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
