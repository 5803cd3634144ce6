import assert from 'node:assert/strict';

import {
  authenticate,
  authorized,
  BearerGuardError,
  ConfigurationError,
  errorHandler,
  requireScopes,
  type Principal,
  type SingleIssuerOptions,
} from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { TIMEOUT } from './support.js';

describe('authorized()', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  /** GET /orders: requireScopes('orders:read') then an authorized() handler recording `req.auth`. */
  function ordersApi(options: Partial<SingleIssuerOptions> = {}) {
    const seen: Principal[] = [];
    const errors: unknown[] = [];
    const app = express()
      .set('env', 'test')
      .use(authenticate({ issuer: as.issuer, audience: as.audience, timeout: TIMEOUT, ...options }))
      .get(
        '/orders',
        authorized((req, res) => {
          seen.push(req.auth);
          res.json({ caller: req.auth.subject, source: req.auth.source });
        }),
      )
      .get(
        '/scoped',
        requireScopes('orders:read'),
        authorized((req, res) => res.json({ scopes: req.auth.scopes })),
      )
      .get(
        '/async',
        authorized(async () => {
          await Promise.resolve();
          throw new Error('handler failed');
        }),
      )
      .use(errorHandler())
      // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express tells error handlers by their arity
      .use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        errors.push(error);
        res.status(599).end();
      });
    return { app, seen, errors };
  }

  it('runs the handler with req.auth, the principal authenticate() set', async function () {
    const { app, seen } = ordersApi();
    const token = await as.sign({ sub: 'alice', scope: 'orders:read' });

    const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { caller: 'alice', source: 'jwt' });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.token, token);
    assert.ok(Object.isFrozen(seen[0]));
  });

  it('after a route guard: the guard still decides (403), then the handler sees the scopes', async function () {
    const { app } = ordersApi();

    const refused = await request(app)
      .get('/scoped')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'other' })}`);
    const granted = await request(app)
      .get('/scoped')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read profile' })}`);

    assert.equal(refused.status, 403);
    assert.equal(granted.status, 200);
    assert.deepEqual(granted.body, { scopes: ['orders:read', 'profile'] });
  });

  it('answers an anonymous request (credentialsRequired: false) 401 with the bare challenge, not running the handler', async function () {
    const { app, seen } = ordersApi({ credentialsRequired: false, realm: 'orders' });

    const res = await request(app).get('/orders');

    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="orders"');
    assert.equal(seen.length, 0);
  });

  it('forwards a rejected async handler to the error handlers (Express 5)', async function () {
    const { app, errors } = ordersApi();

    const res = await request(app)
      .get('/async')
      .set('Authorization', `Bearer ${await as.sign()}`);

    assert.equal(res.status, 599);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, 'handler failed');
    assert.ok(!(errors[0] instanceof BearerGuardError));
  });

  it('without authenticate() before it: 500 ERR_BEARER_CONFIG_MIDDLEWARE_ORDER, the handler never runs', async function () {
    const seen: unknown[] = [];
    let ran = false;
    const app = express()
      .get(
        '/orders',
        authorized((_req, res) => {
          ran = true;
          res.end();
        }),
      )
      .use(errorHandler({ onError: (error) => seen.push(error) }));

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign()}`);

    assert.equal(res.status, 500);
    assert.equal(ran, false);
    assert.ok(seen[0] instanceof ConfigurationError);
    assert.equal(seen[0].code, 'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER');
    assert.match(seen[0].message, /authorized\(\) ran without authenticate\(\)/);
  });

  it('refuses a non-function at construction', function () {
    assert.throws(
      () => authorized('orders:read' as never),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.code === 'ERR_BEARER_CONFIG_INVALID_OPTION' &&
        error.message.includes('authorized() needs a route handler'),
    );
  });
});
