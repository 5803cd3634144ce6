import assert from 'node:assert/strict';

import { authenticate, errorHandler } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, DpopKey } from '@bearer-guard/testkit';
import express from 'express';

import { rawRequest, TIMEOUT } from './support.js';

const PUBLIC_URL = 'https://orders.example';
const MISMATCH =
  'DPoP error="invalid_dpop_proof", error_description="The DPoP proof does not match this request.", ' +
  'algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"';

describe('issue 14: htu and the request URL compared after RFC 3986 §6.2.2 normalisation', function () {
  let as: AuthorizationServerStub;
  let key: DpopKey;
  let app: express.Express;
  let token: string;

  before(async function () {
    as = await startAuthorizationServer();
    key = await generateDpopKey();
    token = await as.sign({ ...key.cnf });
    app = express();
    app.set('env', 'test');
    app.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        publicUrl: PUBLIC_URL,
        dpop: {},
      }),
    );
    app.get('/orders/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    app.use(errorHandler());
  });

  after(async function () {
    await as.close();
  });

  /** A request for `target`, sent byte for byte, with a fresh proof for `htu`. */
  async function call(target: string, htu: string) {
    // `claims.htu`: the htu exactly as given (the `htu` option is serialised by WHATWG URL).
    const proof = await createDpopProof(key, {
      htm: 'GET',
      htu: PUBLIC_URL,
      accessToken: token,
      claims: { htu },
    });
    return await rawRequest(app, `GET ${target} HTTP/1.1`, [
      `Authorization: DPoP ${token}`,
      `DPoP: ${proof}`,
    ]);
  }

  it('accepts a client whose htu spells the same URL otherwise', async function () {
    for (const [target, htu] of [
      // §6.2.2.2: percent-encoded unreserved characters, either side.
      ['/orders/~alice', `${PUBLIC_URL}/orders/%7Ealice`],
      ['/orders/%7ealice', `${PUBLIC_URL}/orders/~alice`],
      ['/orders/%41', `${PUBLIC_URL}/orders/A`],
      // §6.2.2.1: the case of percent-encoding hex digits.
      ['/orders/a%2fb', `${PUBLIC_URL}/orders/a%2Fb`],
      // §6.2.2.1, §6.2.3: scheme and host case, the default port.
      ['/orders/1', 'HTTPS://Orders.EXAMPLE:443/orders/1'],
      // A character no path holds raw (`|`, `^`) is its percent-encoding, either side.
      ['/orders/a|b', `${PUBLIC_URL}/orders/a%7Cb`],
      ['/orders/a%5Eb', `${PUBLIC_URL}/orders/a^b`],
    ] as const) {
      const res = await call(target, htu);
      assert.equal(res.status, 200, `${target} with htu ${htu}: ${res.headers['www-authenticate'] ?? ''}`);
    }
  });

  it('refuses an htu that names another URL, or that is no URI at all', async function () {
    for (const [target, htu] of [
      // §2.2: a reserved character and its encoding are not equivalent.
      ['/orders/a%2Fb', `${PUBLIC_URL}/orders/a/b`],
      ['/orders/a%3Bb', `${PUBLIC_URL}/orders/a;b`],
      ['/orders/1', `${PUBLIC_URL}/orders/2`],
      ['/orders/a', `${PUBLIC_URL}/orders/A`],
      ['/orders/1', 'https://orders.example:8443/orders/1'],
      // Characters WHATWG parsing would drop (tab, newline, edge spaces) or read as `/`.
      ['/orders/1', `${PUBLIC_URL}/orders/\n1`],
      ['/orders/1', `${PUBLIC_URL}/or\tders/1`],
      ['/orders/1', ` ${PUBLIC_URL}/orders/1`],
      ['/orders/1', `${PUBLIC_URL}\\orders\\1`],
    ] as const) {
      const res = await call(target, htu);
      assert.equal(res.status, 401, `${target} with htu ${JSON.stringify(htu)}`);
      assert.equal(res.headers['www-authenticate'], MISMATCH);
    }
  });
});
