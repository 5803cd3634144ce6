import assert from 'node:assert/strict';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import request from 'supertest';
import { createApp } from '@bearer-guard/example-quickstart-api';

describe('examples/quickstart-api', () => {
  let as: AuthorizationServerStub;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    as = await startAuthorizationServer({ audience: 'https://orders.example', algorithms: ['ES256'] });
    app = createApp({ issuer: as.issuer, audience: as.audience });
  });
  after(() => as.close());

  it('serves /orders to a token with orders:read', async () => {
    const token = await as.sign({ scope: 'orders:read', sub: 'alice' });
    const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`).expect(200);
    assert.equal(res.body.caller, 'alice');
  });

  it('answers 403 insufficient_scope naming the scope', async () => {
    const token = await as.sign({ scope: 'profile' });
    const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`).expect(403);
    assert.equal(
      res.headers['www-authenticate'],
      'Bearer realm="api", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="orders:read"',
    );
  });

  it('accepts any of the /reports scopes', async () => {
    const token = await as.sign({ scope: 'admin' });
    await request(app).get('/reports').set('Authorization', `Bearer ${token}`).expect(200);
  });

  it('answers 401 with a bare challenge without a token, and keeps /health open', async () => {
    const res = await request(app).get('/orders').expect(401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
    await request(app).get('/health').expect(200);
  });
});
