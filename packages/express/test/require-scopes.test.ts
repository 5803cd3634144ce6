import assert from 'node:assert/strict';

import {
  authenticate,
  ConfigurationError,
  errorHandler,
  requireAnyScope,
  requireScopes,
} from '@bearer-guard/express';
import type { GuardOptions, SingleIssuerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, TokenClaims } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { assertErrorBody, DESCRIPTION, insufficientScope, probe, TIMEOUT } from './support.js';

describe('requireScopes() / requireAnyScope()', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  function guardOptions(options: Partial<SingleIssuerOptions> = {}): GuardOptions {
    return { issuer: as.issuer, audience: as.audience, jwksUri: as.jwksUri, timeout: TIMEOUT, ...options };
  }

  /** GET /orders needs orders:read; POST /orders needs orders:read AND orders:write; GET /reports needs reports:read OR admin. */
  function ordersApi(options: Partial<SingleIssuerOptions> = {}, { withErrorHandler = true } = {}) {
    const route = probe();
    const app = express();
    app.set('env', 'test');
    app.use(authenticate(guardOptions(options)));
    app.get('/orders', requireScopes('orders:read'), route.handler);
    app.post('/orders', requireScopes('orders:read', 'orders:write'), route.handler);
    app.get('/reports', requireAnyScope('reports:read', 'admin'), route.handler);
    app.get('/health', route.handler);
    if (withErrorHandler) app.use(errorHandler());
    return { app, route };
  }

  async function bearer(claims: TokenClaims): Promise<string> {
    return `Bearer ${await as.sign(claims)}`;
  }

  describe('requireScopes(): all of them', function () {
    it('lets a token with every required scope through', async function () {
      const { app, route } = ordersApi();

      const res = await request(app)
        .post('/orders')
        .set('Authorization', await bearer({ scope: 'orders:write profile orders:read' }));

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
    });

    it('answers 403 insufficient_scope naming every required scope when one is missing', async function () {
      const { app, route } = ordersApi();

      const res = await request(app)
        .post('/orders')
        .set('Authorization', await bearer({ scope: 'orders:read' }));

      assert.equal(res.status, 403);
      assert.equal(
        res.headers['www-authenticate'],
        'Bearer realm="api", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="orders:read orders:write"',
      );
      assertErrorBody(res.body, 'insufficient_scope', DESCRIPTION.insufficientScope);
      assert.equal(route.calls, 0);
    });

    it('answers 403 to a token without any scope claim', async function () {
      const { app, route } = ordersApi();

      const res = await request(app)
        .get('/orders')
        .set('Authorization', await bearer({ scope: undefined }));

      assert.equal(res.status, 403);
      assert.equal(res.headers['www-authenticate'], insufficientScope('orders:read'));
      assert.equal(route.calls, 0);
    });

    it('flattens array arguments: requireScopes(["a", "b"], "c")', async function () {
      const route = probe();
      const app = express()
        .use(authenticate(guardOptions()))
        .get('/x', requireScopes(['a', 'b'], 'c'), route.handler)
        .use(errorHandler());

      const partial = await request(app)
        .get('/x')
        .set('Authorization', await bearer({ scope: 'a b' }));
      const full = await request(app)
        .get('/x')
        .set('Authorization', await bearer({ scope: 'c b a' }));

      assert.equal(partial.status, 403);
      assert.equal(partial.headers['www-authenticate'], insufficientScope('a b c'));
      assert.equal(full.status, 200);
      assert.equal(route.calls, 1);
    });
  });

  describe('requireAnyScope(): one of them', function () {
    for (const scope of ['reports:read', 'admin', 'admin reports:read']) {
      it(`lets scope "${scope}" through`, async function () {
        const { app, route } = ordersApi();

        const res = await request(app)
          .get('/reports')
          .set('Authorization', await bearer({ scope }));

        assert.equal(res.status, 200);
        assert.equal(route.calls, 1);
      });
    }

    it('answers 403 naming all the alternatives when none is granted', async function () {
      const { app, route } = ordersApi();

      const res = await request(app)
        .get('/reports')
        .set('Authorization', await bearer({ scope: 'orders:read' }));

      assert.equal(res.status, 403);
      assert.equal(res.headers['www-authenticate'], insufficientScope('reports:read admin'));
      assert.equal(route.calls, 0);
    });
  });

  describe('matching is exact and case-sensitive (RFC 6749 §3.3)', function () {
    for (const granted of ['READ', 'Read', 'reader', 'read:all', 'rea', 'read,write', '"read"', 'write']) {
      it(`"${granted}" does not satisfy "read"`, async function () {
        const route = probe();
        const app = express()
          .use(authenticate(guardOptions()))
          .get('/r', requireScopes('read'), route.handler)
          .use(errorHandler());

        const res = await request(app)
          .get('/r')
          .set('Authorization', await bearer({ scope: granted }));

        assert.equal(res.status, 403);
        assert.equal(res.headers['www-authenticate'], insufficientScope('read'));
        assert.equal(route.calls, 0);
      });
    }

    it('a scope array in "scope" counts entry by entry, and only string entries', async function () {
      const route = probe();
      const app = express()
        .use(authenticate(guardOptions()))
        .get('/r', requireScopes('read'), route.handler)
        .use(errorHandler());

      const nonString = await request(app)
        .get('/r')
        .set('Authorization', await bearer({ scope: [['read'], { read: true }, 1] }));
      const ok = await request(app)
        .get('/r')
        .set('Authorization', await bearer({ scope: ['write', 'read'] }));

      assert.equal(nonString.status, 403);
      assert.equal(ok.status, 200);
      assert.equal(route.calls, 1);
    });
  });

  describe('scope claims', function () {
    it('reads an scp array by default', async function () {
      const { app, route } = ordersApi();

      const res = await request(app)
        .get('/orders')
        .set('Authorization', await bearer({ scope: undefined, scp: ['orders:read'] }));

      assert.equal(res.status, 200);
      assert.deepEqual(route.principals[0]?.scopes, ['orders:read']);
    });

    it('reads a space-delimited scp string too', async function () {
      const { app } = ordersApi();

      const res = await request(app)
        .post('/orders')
        .set('Authorization', await bearer({ scope: undefined, scp: 'orders:read orders:write' }));

      assert.equal(res.status, 200);
    });

    it('ignores permissions unless scopeClaims names it', async function () {
      const { app, route } = ordersApi();

      const res = await request(app)
        .get('/orders')
        .set('Authorization', await bearer({ scope: undefined, permissions: ['orders:read'] }));

      assert.equal(res.status, 403);
      assert.equal(route.calls, 0);
    });

    it("reads Auth0-style permissions with scopeClaims: ['scope', 'scp', 'permissions']", async function () {
      const { app, route } = ordersApi({ scopeClaims: ['scope', 'scp', 'permissions'] });

      const res = await request(app)
        .post('/orders')
        .set('Authorization', await bearer({ scope: 'orders:read', permissions: ['orders:write'] }));

      assert.equal(res.status, 200);
      assert.deepEqual(route.principals[0]?.scopes, ['orders:read', 'orders:write']);
    });

    it('reads only the configured claims: scopeClaims: ["permissions"] ignores scope', async function () {
      const { app, route } = ordersApi({ scopeClaims: ['permissions'] });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', await bearer({ scope: 'orders:read' }));

      assert.equal(res.status, 403);
      assert.equal(route.calls, 0);
    });
  });

  describe('where the guard is mounted', function () {
    it('works on a Router through router.use()', async function () {
      const route = probe();
      const admin = express.Router();
      admin.use(requireScopes('admin'));
      admin.get('/users', route.handler);
      const app = express().use(authenticate(guardOptions())).use('/admin', admin).use(errorHandler());

      const denied = await request(app)
        .get('/admin/users')
        .set('Authorization', await bearer({ scope: 'read' }));
      const allowed = await request(app)
        .get('/admin/users')
        .set('Authorization', await bearer({ scope: 'admin' }));

      assert.equal(denied.status, 403);
      assert.equal(denied.headers['www-authenticate'], insufficientScope('admin'));
      assert.equal(allowed.status, 200);
      assert.equal(route.calls, 1);
    });

    it('works app-wide, in front of every route', async function () {
      const route = probe();
      const app = express();
      app.use(authenticate(guardOptions()));
      app.use(requireAnyScope('api', 'admin'));
      app.get('/a', route.handler);
      app.get('/b', route.handler);
      app.use(errorHandler());

      const denied = await request(app)
        .get('/b')
        .set('Authorization', await bearer({ scope: 'read' }));
      const allowed = await request(app)
        .get('/a')
        .set('Authorization', await bearer({ scope: 'api' }));

      assert.equal(denied.status, 403);
      assert.equal(denied.headers['www-authenticate'], insufficientScope('api admin'));
      assert.equal(allowed.status, 200);
      assert.equal(route.calls, 1);
    });

    it('uses the realm of the guard in the 403 challenge', async function () {
      const { app } = ordersApi({ realm: 'orders' });

      const res = await request(app)
        .get('/orders')
        .set('Authorization', await bearer({ scope: 'read' }));

      assert.equal(res.headers['www-authenticate'], insufficientScope('orders:read', 'orders'));
    });

    it("answers 403 with the challenge through Express's default handler too (no errorHandler())", async function () {
      const { app, route } = ordersApi({}, { withErrorHandler: false });

      const res = await request(app)
        .post('/orders')
        .set('Authorization', await bearer({ scope: 'orders:read' }));

      assert.equal(res.status, 403);
      assert.equal(res.headers['www-authenticate'], insufficientScope('orders:read orders:write'));
      assert.equal(route.calls, 0);
    });
  });

  describe('without authenticate() before it', function () {
    for (const [name, guard] of [
      ['requireScopes', requireScopes('orders:read')],
      ['requireAnyScope', requireAnyScope('orders:read', 'admin')],
    ] as const) {
      it(`${name}() answers 500 ERR_BEARER_CONFIG_MIDDLEWARE_ORDER, not 401, even with a valid token`, async function () {
        const route = probe();
        const seen: unknown[] = [];
        const app = express()
          .get('/orders', guard, route.handler)
          .use(errorHandler({ onError: (error) => seen.push(error) }));

        const res = await request(app)
          .get('/orders')
          .set('Authorization', await bearer({ scope: 'orders:read' }));

        assert.equal(res.status, 500);
        assert.deepEqual(res.body, { error: 'server_error' });
        assert.equal(res.headers['www-authenticate'], undefined);
        assert.equal(route.calls, 0);
        assert.equal(seen.length, 1);
        assert.ok(seen[0] instanceof ConfigurationError);
        assert.equal(seen[0].code, 'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER');
        assert.match(seen[0].message, new RegExp(`${name}\\(\\) ran without authenticate\\(\\)`));
      });
    }

    it("answers 500 through Express's default handler too", async function () {
      const route = probe();
      const app = express().set('env', 'test').get('/orders', requireScopes('orders:read'), route.handler);

      const res = await request(app).get('/orders');

      assert.equal(res.status, 500);
      assert.equal(res.headers['www-authenticate'], undefined);
      assert.equal(route.calls, 0);
    });

    it('answers 500 when authenticate() is mounted only after the guard', async function () {
      const route = probe();
      const app = express()
        .use('/orders', requireScopes('orders:read'))
        .use(authenticate(guardOptions()))
        .get('/orders', route.handler)
        .use(errorHandler());

      const res = await request(app)
        .get('/orders')
        .set('Authorization', await bearer({ scope: 'orders:read' }));

      assert.equal(res.status, 500);
      assert.equal(route.calls, 0);
    });
  });

  describe('construction', function () {
    it('requireScopes() and requireAnyScope() without scopes throw ERR_BEARER_CONFIG_MISSING_OPTION', function () {
      for (const build of [() => requireScopes(), () => requireAnyScope(), () => requireScopes([])]) {
        assert.throws(build, (error: unknown) => {
          assert.ok(error instanceof ConfigurationError);
          assert.equal(error.code, 'ERR_BEARER_CONFIG_MISSING_OPTION');
          return true;
        });
      }
    });

    for (const scope of ['a b', '', 'quo"te', 'back\\slash', 'caf\u00e9', 'tab\there']) {
      it(`requireScopes(${JSON.stringify(scope)}) throws ERR_BEARER_CONFIG_INVALID_OPTION`, function () {
        assert.throws(
          () => requireScopes('ok', scope),
          (error: unknown) => {
            assert.ok(error instanceof ConfigurationError);
            assert.equal(error.code, 'ERR_BEARER_CONFIG_INVALID_OPTION');
            return true;
          },
        );
      });
    }

    it("suggests separate arguments for 'a b'", function () {
      assert.throws(() => requireAnyScope('a b'), /requireAnyScope\('a', 'b'\)/);
    });
  });

  describe('anonymous callers (credentialsRequired: false)', function () {
    it('get 401 with the bare challenge on a scoped route, and pass on an open one', async function () {
      const { app, route } = ordersApi({ credentialsRequired: false });

      const scoped = await request(app).get('/orders');
      const anyOf = await request(app).get('/reports');
      const open = await request(app).get('/health');

      for (const res of [scoped, anyOf]) {
        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
        assertErrorBody(res.body, 'unauthorized');
      }
      assert.equal(open.status, 200);
      assert.equal(route.calls, 1);
    });
  });
});
