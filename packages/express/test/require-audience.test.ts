import assert from 'node:assert/strict';

import {
  authenticate,
  ConfigurationError,
  errorHandler,
  requireAudience,
  requireScopes,
} from '@bearer-guard/express';
import type { SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { assertErrorBody, DESCRIPTION, insufficientScope, invalidToken, probe, TIMEOUT } from './support.js';

const ORDERS = 'https://orders.example';
const BILLING = 'https://billing.example';

describe('requireAudience()', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  /** One service hosting two APIs behind one guard that accepts both audiences. */
  function twoApis(options: Partial<SingleIssuerOptions> = {}) {
    const orders = probe();
    const billing = probe();
    const ordersRouter = express.Router();
    ordersRouter.use(requireAudience(ORDERS));
    ordersRouter.get('/', orders.handler);
    const billingRouter = express.Router();
    billingRouter.use(requireAudience(BILLING));
    billingRouter.get('/invoices', requireScopes('billing:read'), billing.handler);
    const app = express()
      .set('env', 'test')
      .use(
        authenticate({
          issuer: as.issuer,
          audience: [ORDERS, BILLING],
          jwksUri: as.jwksUri,
          timeout: TIMEOUT,
          ...options,
        }),
      )
      .use('/orders', ordersRouter)
      .use('/billing', billingRouter)
      .use(errorHandler());
    return { app, orders, billing };
  }

  it('lets a token for the orders API into the orders router', async function () {
    const { app, orders } = twoApis();

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ aud: ORDERS })}`);

    assert.equal(res.status, 200);
    assert.equal(orders.calls, 1);
    assert.deepEqual(orders.principals[0]?.audience, [ORDERS]);
  });

  it('refuses the same token on the billing router with 401 invalid_token', async function () {
    const { app, billing } = twoApis();

    const res = await request(app)
      .get('/billing/invoices')
      .set('Authorization', `Bearer ${await as.sign({ aud: ORDERS, scope: 'billing:read' })}`);

    assert.equal(res.status, 401);
    assert.equal(
      res.headers['www-authenticate'],
      'Bearer realm="api", error="invalid_token", error_description="The access token is not meant for this resource."',
    );
    assertErrorBody(res.body, 'invalid_token', DESCRIPTION.audienceInvalid);
    assert.equal(billing.calls, 0);
  });

  it('checks the audience before the route scopes: a billing token without the scope gets 403', async function () {
    const { app, billing } = twoApis();

    const res = await request(app)
      .get('/billing/invoices')
      .set('Authorization', `Bearer ${await as.sign({ aud: BILLING, scope: 'orders:read' })}`);

    assert.equal(res.status, 403);
    assert.equal(res.headers['www-authenticate'], insufficientScope('billing:read'));
    assert.equal(billing.calls, 0);
  });

  it('lets a token for the billing API into billing only', async function () {
    const { app, orders, billing } = twoApis();
    const token = await as.sign({ aud: BILLING, scope: 'billing:read' });

    const toBilling = await request(app).get('/billing/invoices').set('Authorization', `Bearer ${token}`);
    const toOrders = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);

    assert.equal(toBilling.status, 200);
    assert.equal(billing.calls, 1);
    assert.equal(toOrders.status, 401);
    assert.equal(toOrders.headers['www-authenticate'], invalidToken(DESCRIPTION.audienceInvalid));
    assert.equal(orders.calls, 0);
  });

  it('lets a token whose aud array names both APIs into both', async function () {
    const { app, orders, billing } = twoApis();
    const token = await as.sign({ aud: [ORDERS, BILLING], scope: 'billing:read' });

    const toOrders = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
    const toBilling = await request(app).get('/billing/invoices').set('Authorization', `Bearer ${token}`);

    assert.equal(toOrders.status, 200);
    assert.equal(toBilling.status, 200);
    assert.equal(orders.calls + billing.calls, 2);
  });

  it('leaves a token for neither API to authenticate(): 401 before any router', async function () {
    const { app, orders } = twoApis();

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ aud: 'https://shipping.example' })}`);

    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.audienceInvalid));
    assert.equal(orders.calls, 0);
  });

  it('accepts any one of several audiences', async function () {
    const route = probe();
    const app = express()
      .use(authenticate({ issuer: as.issuer, audience: [ORDERS, BILLING], jwksUri: as.jwksUri }))
      .get('/either', requireAudience('https://other.example', BILLING), route.handler)
      .use(errorHandler());

    const res = await request(app)
      .get('/either')
      .set('Authorization', `Bearer ${await as.sign({ aud: BILLING })}`);

    assert.equal(res.status, 200);
    assert.equal(route.calls, 1);
  });

  it('answers 401 with the bare challenge to an anonymous caller (credentialsRequired: false)', async function () {
    const { app, orders } = twoApis({ credentialsRequired: false });

    const res = await request(app).get('/orders');

    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
    assert.equal(orders.calls, 0);
  });

  it('answers 500 ERR_BEARER_CONFIG_MIDDLEWARE_ORDER without authenticate()', async function () {
    const route = probe();
    const seen: unknown[] = [];
    const app = express()
      .use(requireAudience(ORDERS))
      .get('/orders', route.handler)
      .use(errorHandler({ onError: (error) => seen.push(error) }));

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ aud: ORDERS })}`);

    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { error: 'server_error' });
    assert.equal(route.calls, 0);
    assert.ok(seen[0] instanceof ConfigurationError);
    assert.equal(seen[0].code, 'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER');
  });

  it('throws ERR_BEARER_CONFIG_INVALID_OPTION at construction without a non-empty audience', function () {
    for (const build of [
      () => requireAudience(),
      () => requireAudience(''),
      () => requireAudience(ORDERS, ''),
    ]) {
      assert.throws(build, (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.equal(error.code, 'ERR_BEARER_CONFIG_INVALID_OPTION');
        return true;
      });
    }
  });
});
