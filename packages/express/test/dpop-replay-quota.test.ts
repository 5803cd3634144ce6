import assert from 'node:assert/strict';

import {
  authenticate,
  DpopProofQuotaError,
  errorHandler,
  MemoryDpopReplayStore,
} from '@bearer-guard/express';
import type { DpopReplayStore } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, DpopKey } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { assertErrorBody, probe, TIMEOUT } from './support.js';

const PUBLIC_URL = 'https://orders.example';

describe('issue 14: one client cannot fill the in-memory DPoP replay store for everyone', function () {
  let as: AuthorizationServerStub;
  const keys: DpopKey[] = [];

  before(async function () {
    as = await startAuthorizationServer();
    for (let i = 0; i < 5; i++) keys.push(await generateDpopKey());
  });

  after(async function () {
    await as.close();
  });

  function api(replayStore: DpopReplayStore) {
    const route = probe();
    const app = express();
    app.set('env', 'test');
    app.use(
      authenticate({
        issuer: as.issuer,
        audience: as.audience,
        jwksUri: as.jwksUri,
        timeout: TIMEOUT,
        publicUrl: PUBLIC_URL,
        dpop: { replayStore },
      }),
    );
    app.get('/orders', route.handler);
    app.use(errorHandler());
    return { app, route };
  }

  /** A request with a fresh proof (a new `jti`) of `key` for `token`. */
  async function call(app: express.Express, key: DpopKey, token: string) {
    const proof = await createDpopProof(key, { htm: 'GET', htu: `${PUBLIC_URL}/orders`, accessToken: token });
    return await request(app).get('/orders').set('Authorization', `DPoP ${token}`).set('DPoP', proof);
  }

  it('a client over its quota gets 429 for itself; the others keep being served', async function () {
    const { app, route } = api(new MemoryDpopReplayStore({ max: 20, maxPerKey: 5 }));
    const [flooder, other] = keys as [DpopKey, DpopKey];
    const flooderToken = await as.sign({ ...flooder.cnf });
    const otherToken = await as.sign({ ...other.cnf });
    for (let i = 0; i < 5; i++) assert.equal((await call(app, flooder, flooderToken)).status, 200);
    const refused = await call(app, flooder, flooderToken);
    assert.equal(refused.status, 429);
    assertErrorBody(
      refused.body,
      'temporarily_unavailable',
      'Too many DPoP proofs of this key were accepted recently. Try again later.',
    );
    // Its proofs live for the rest of the 300 s window (and clockTolerance): the retry hint says when one expires.
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter > 250 && retryAfter <= 306, String(retryAfter));
    assert.equal(refused.headers['www-authenticate'], undefined);
    // Another client (another proof key) is not affected.
    for (let i = 0; i < 5; i++) assert.equal((await call(app, other, otherToken)).status, 200);
    assert.equal(route.calls, 10);
  });

  it("a store's own DpopProofQuotaError gets 429 with a Retry-After of whole seconds, whatever retryAfter it says", async function () {
    const [client] = keys as [DpopKey];
    const token = await as.sign({ ...client.cnf });
    const cases: [unknown, string][] = [
      [30, '30'],
      [1.2, '2'],
      [0, '1'],
      [-3, '1'],
      [Number.NaN, '1'],
      [Number.POSITIVE_INFINITY, '86400'],
      [1e12, '86400'],
      ['7', '1'],
    ];
    for (const [retryAfter, expected] of cases) {
      for (const rejects of [false, true]) {
        const quota = new DpopProofQuotaError('over quota', retryAfter as number);
        const store: DpopReplayStore = {
          setIfAbsent: () => {
            if (rejects) return Promise.reject(quota);
            throw quota;
          },
        };
        const res = await call(api(store).app, client, token);
        assert.equal(res.status, 429);
        assert.equal(res.headers['retry-after'], expected, `${String(retryAfter)} (${String(rejects)})`);
      }
    }
  });

  it('only proofs that passed every other check count: a flood with a bad token records nothing', async function () {
    const { app } = api(new MemoryDpopReplayStore({ max: 20, maxPerKey: 5 }));
    const [flooder] = keys as [DpopKey];
    const expired = await as.sign({ ...flooder.cnf }, { expiresIn: -60 });
    const unbound = await as.sign();
    for (let i = 0; i < 10; i++) {
      assert.equal((await call(app, flooder, expired)).status, 401);
      assert.equal((await call(app, flooder, unbound)).status, 401);
    }
    const token = await as.sign({ ...flooder.cnf });
    for (let i = 0; i < 5; i++) assert.equal((await call(app, flooder, token)).status, 200);
  });

  it('the store stays bounded: once max live proofs are held, it fails closed (503) for everyone', async function () {
    const { app } = api(new MemoryDpopReplayStore({ max: 8, maxPerKey: 4 }));
    const [one, two, three] = keys as [DpopKey, DpopKey, DpopKey];
    for (const key of [one, two]) {
      const token = await as.sign({ ...key.cnf });
      for (let i = 0; i < 4; i++) assert.equal((await call(app, key, token)).status, 200);
    }
    const res = await call(app, three, await as.sign({ ...three.cnf }));
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '1');
  });
});
