import assert from 'node:assert/strict';

import { authenticate, errorHandler, type GuardOptions } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey, type DpopKey } from '@bearer-guard/testkit';
import express, { type Express } from 'express';
import request from 'supertest';

import {
  JWT_RESOURCE,
  OPAQUE_RESOURCE,
  startOidcProvider,
  type OidcProviderFixture,
} from '../support/oidc-provider.js';

const PUBLIC_URL = 'https://api.example';

// RFC 9449 end to end: node-oidc-provider binds the tokens (cnf.jkt in its JWTs, cnf.jkt and
// token_type DPoP in its introspection answers), bearer-guard checks the proofs.
describe('DPoP against a real node-oidc-provider', () => {
  let op: OidcProviderFixture;
  let key: DpopKey;
  let other: DpopKey;

  before(async () => {
    op = await startOidcProvider();
    key = await generateDpopKey();
    other = await generateDpopKey();
  });
  after(() => op.close());

  function protectedApp(options: Partial<GuardOptions>): Express {
    const app = express();
    app.use(
      authenticate({
        issuer: op.issuer,
        publicUrl: PUBLIC_URL,
        dpop: { required: true },
        ...options,
      } as GuardOptions),
    );
    app.get('/data', (req, res) => {
      res.json({ source: req.auth?.source, confirmation: req.auth?.confirmation });
    });
    app.use(errorHandler());
    return app;
  }

  const tokenFor = (resource: string, with_: DpopKey = key) =>
    op.token(resource, 'read', (htu) => createDpopProof(with_, { htm: 'POST', htu }));
  const call = async (app: Express, token: string, proofKey: DpopKey = key, scheme = 'DPoP') =>
    request(app)
      .get('/data')
      .set('Authorization', `${scheme} ${token}`)
      .set(
        'DPoP',
        await createDpopProof(proofKey, { htm: 'GET', htu: `${PUBLIC_URL}/data`, accessToken: token }),
      );

  const cases = [
    { name: 'a DPoP-bound JWT (§6.1)', resource: JWT_RESOURCE, source: 'jwt' },
    {
      name: 'an introspected DPoP-bound token (§6.2)',
      resource: OPAQUE_RESOURCE,
      source: 'introspection',
    },
  ] as const;

  for (const { name, resource, source } of cases) {
    describe(name, () => {
      const app = (): Express =>
        protectedApp({
          audience: resource,
          ...(resource === OPAQUE_RESOURCE
            ? {
                introspection: {
                  clientId: op.resourceServer.clientId,
                  clientSecret: op.resourceServer.clientSecret,
                },
              }
            : {}),
        });

      it('passes with a proof of the bound key, and tells the binding', async () => {
        const token = await tokenFor(resource);
        const res = await call(app(), token);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body, { source, confirmation: { jkt: key.jkt } });
      });

      it('is refused with a proof of another key: DPoP error="invalid_token"', async () => {
        const token = await tokenFor(resource);
        const res = await call(app(), token, other);
        assert.equal(res.status, 401);
        assert.match(
          String(res.headers['www-authenticate']),
          /^DPoP error="invalid_token", error_description="The access token is not bound to the key of the DPoP proof."/,
        );
      });

      it('is refused when sent as a bearer token (§7.2)', async () => {
        const token = await tokenFor(resource);
        const res = await call(app(), token, key, 'Bearer');
        assert.equal(res.status, 401);
        assert.match(
          String(res.headers['www-authenticate']),
          /^Bearer realm="api", error="invalid_token", error_description="The access token is bound to a key and cannot be used as a bearer token.", DPoP algs="/,
        );
      });

      it('a replayed proof is refused', async () => {
        const token = await tokenFor(resource);
        const target = app();
        const proof = await createDpopProof(key, {
          htm: 'GET',
          htu: `${PUBLIC_URL}/data`,
          accessToken: token,
        });
        const send = () =>
          request(target).get('/data').set('Authorization', `DPoP ${token}`).set('DPoP', proof);
        assert.equal((await send()).status, 200);
        const replay = await send();
        assert.equal(replay.status, 401);
        assert.match(
          String(replay.headers['www-authenticate']),
          /^DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used."/,
        );
      });
    });
  }
});
