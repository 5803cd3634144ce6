import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import process from 'node:process';

import {
  authenticate,
  BearerGuardError,
  ConfigurationError,
  errorHandler,
  requireScopes,
} from '@bearer-guard/express';
import type { ErrorHandlerOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';

import { DESCRIPTION, insufficientScope, invalidToken, probe, TIMEOUT } from './support.js';

/** The `bearer-guard:` lines written to stderr while `run` runs (other writes pass through). */
async function stderrLines(run: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk: string | Uint8Array, ...rest: never[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.startsWith('bearer-guard:')) {
      lines.push(text);
      return true;
    }
    return write(chunk, ...rest);
  };
  try {
    await run();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

/** A port on 127.0.0.1 where nothing listens (a server was there a moment ago). */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

interface Seen {
  error: BearerGuardError | ConfigurationError;
  path: string;
}

describe('errorHandler()', function () {
  let as: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
  });

  afterEach(function () {
    as.setBehaviour('jwks', { mode: 'ok' });
  });

  function api() {
    const route = probe();
    const seen: Seen[] = [];
    const passedOn: unknown[] = [];
    const app = express();
    app.set('env', 'test');
    // Open routes first: they fail on their own, before any token is asked for.
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.get('/config', () => {
      throw new ConfigurationError('ERR_BEARER_CONFIG_INVALID_OPTION', 'secret wiring details');
    });
    app.use(
      authenticate({ issuer: as.issuer, audience: as.audience, jwksUri: as.jwksUri, timeout: TIMEOUT }),
    );
    app.get('/orders', requireScopes('orders:read'), route.handler);
    app.use(errorHandler({ onError: (error, req) => seen.push({ error, path: req.path }) }));
    // The next error handler: it must receive whatever errorHandler() does not render.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express tells error handlers by their four parameters
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      passedOn.push(error);
      res.status(599).json({ handledBy: 'next' });
    });
    return { app, route, seen, passedOn };
  }

  it('renders 401 as JSON { error, error_description } and nothing more', async function () {
    const { app } = api();

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.bad.expired()}`);

    assert.equal(res.status, 401);
    assert.match(res.headers['content-type'] ?? '', /^application\/json; charset=utf-8$/);
    assert.equal(res.headers['www-authenticate'], invalidToken(DESCRIPTION.expired));
    assert.deepEqual(res.body, { error: 'invalid_token', error_description: DESCRIPTION.expired });
    assert.doesNotMatch(res.text, /ERR_|cause|stack|JWTExpired|"exp"/);
  });

  it('renders 403 as JSON with the scope challenge', async function () {
    const { app } = api();

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'read' })}`);

    assert.equal(res.status, 403);
    assert.equal(res.headers['www-authenticate'], insufficientScope('orders:read'));
    assert.deepEqual(res.body, {
      error: 'insufficient_scope',
      error_description: DESCRIPTION.insufficientScope,
    });
  });

  it('renders the missing-token 401 as { error: "unauthorized" } with the bare challenge', async function () {
    const { app } = api();

    const res = await request(app).get('/orders');

    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
    assert.deepEqual(res.body, { error: 'unauthorized' });
  });

  it('renders 503 as JSON with Retry-After and without a challenge or the upstream URL', async function () {
    const { app } = api();
    as.setBehaviour('jwks', { mode: 'fail' });

    const res = await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign({ scope: 'orders:read' })}`);

    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.deepEqual(res.body, {
      error: 'temporarily_unavailable',
      error_description: DESCRIPTION.jwksUnavailable,
    });
    assert.ok(!res.text.includes(as.jwksUri));
  });

  it('passes errors that are not bearer-guard errors to the next error handler, untouched', async function () {
    const { app, seen, passedOn } = api();

    const res = await request(app).get('/boom');

    assert.equal(res.status, 599);
    assert.deepEqual(res.body, { handledBy: 'next' });
    assert.equal(passedOn.length, 1);
    assert.ok(passedOn[0] instanceof Error);
    assert.equal(passedOn[0].message, 'boom');
    assert.equal(seen.length, 0, 'onError is for bearer-guard errors only');
  });

  it("leaves other errors to Express's default handler when it is the last handler", async function () {
    const app = express()
      .set('env', 'test')
      .get('/boom', () => {
        throw Object.assign(new Error('teapot'), { status: 418 });
      })
      .use(errorHandler());

    const res = await request(app).get('/boom');

    assert.equal(res.status, 418);
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  it('answers a ConfigurationError with 500 { error: "server_error" } and no details', async function () {
    const { app, seen, passedOn } = api();

    const res = await request(app).get('/config');

    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { error: 'server_error' });
    assert.ok(!res.text.includes('secret wiring details'));
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.equal(passedOn.length, 0);
    assert.equal(seen.length, 1);
    assert.ok(seen[0]?.error instanceof ConfigurationError);
  });

  it('calls onError with the error, its code and its internal cause, and the request', async function () {
    const { app, seen, route } = api();

    await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.bad.expired()}`);
    await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.bad.tampered()}`);

    assert.equal(route.calls, 0);
    assert.equal(seen.length, 2);
    const [expired, tampered] = seen;
    assert.ok(expired?.error instanceof BearerGuardError);
    assert.equal(expired.path, '/orders');
    assert.equal(expired.error.code, 'ERR_BEARER_TOKEN_EXPIRED');
    assert.ok(expired.error.cause instanceof Error, 'the internal reason is kept in cause');
    assert.equal((expired.error.cause as Error & { code?: string }).code, 'ERR_JWT_EXPIRED');
    assert.ok(tampered?.error instanceof BearerGuardError);
    assert.equal(tampered.error.code, 'ERR_BEARER_TOKEN_SIGNATURE_INVALID');
    assert.equal(
      (tampered.error.cause as Error & { code?: string }).code,
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    );
  });

  it('calls onError for a 503 with the upstream failure as the cause', async function () {
    const { app, seen } = api();
    as.setBehaviour('jwks', { mode: 'fail' });

    await request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${await as.sign()}`);

    assert.equal(seen.length, 1);
    const { error } = seen[0]!;
    assert.ok(error instanceof BearerGuardError);
    assert.equal(error.code, 'ERR_BEARER_JWKS_UNAVAILABLE');
    assert.ok(error.cause instanceof Error);
    assert.match(error.cause.message, /HTTP 500/);
  });

  it('renders a BearerGuardError raised by application code with its status and challenge', async function () {
    const app = express()
      .get('/orders/:id', () => {
        throw new BearerGuardError('ERR_BEARER_INSUFFICIENT_SCOPE', { scope: 'orders:admin' });
      })
      .use(errorHandler());

    const res = await request(app).get('/orders/42');

    assert.equal(res.status, 403);
    assert.equal(
      res.headers['www-authenticate'],
      `Bearer error="insufficient_scope", error_description="${DESCRIPTION.insufficientScope}", scope="orders:admin"`,
    );
    assert.deepEqual(res.body, {
      error: 'insufficient_scope',
      error_description: DESCRIPTION.insufficientScope,
    });
  });

  it('hands a bearer error to the next handler once the response has started', async function () {
    const passedOn: unknown[] = [];
    const app = express()
      .get('/stream', (_req: Request, res: Response, next: NextFunction) => {
        res.status(200).setHeader('content-type', 'text/plain');
        res.flushHeaders();
        next(new BearerGuardError('ERR_BEARER_TOKEN_EXPIRED'));
      })
      .use(errorHandler())
      // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express tells error handlers by their four parameters
      .use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
        passedOn.push(error);
        res.end('partial');
      });

    const res = await request(app).get('/stream');

    assert.equal(res.status, 200);
    assert.equal(res.text, 'partial');
    assert.equal(passedOn.length, 1);
    assert.ok(passedOn[0] instanceof BearerGuardError);
  });

  describe('reporting (onError)', function () {
    it('reports a misordered middleware on stderr by default: one line with the code and what to change', async function () {
      const route = probe();
      const app = express().get('/orders', requireScopes('orders:read'), route.handler).use(errorHandler());
      const token = await as.sign({ scope: 'orders:read' });
      let res: request.Response | undefined;

      const lines = await stderrLines(async () => {
        res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
      });

      assert.equal(res?.status, 500);
      assert.deepEqual(res.body, { error: 'server_error' });
      assert.equal(route.calls, 0);
      assert.deepEqual(lines, [
        'bearer-guard: 500 ERR_BEARER_CONFIG_MIDDLEWARE_ORDER (GET /orders): requireScopes() ran without ' +
          'authenticate() before it. Add app.use(authenticate({ … })) ahead of this route or router.\n',
      ]);
      assert.ok(!lines.join('').includes(token));
    });

    it('reports a 503 with its cause chain (ECONNREFUSED and the address), and no 4xx', async function () {
      const port = await refusedPort();
      const jwksUri = `http://127.0.0.1:${String(port)}/jwks`;
      const app = express()
        .use(authenticate({ issuer: as.issuer, audience: as.audience, jwksUri, timeout: TIMEOUT }))
        .get('/orders', probe().handler)
        .use(errorHandler());
      const token = await as.sign({ scope: 'orders:read' });
      const statuses: number[] = [];

      const lines = await stderrLines(async () => {
        // A 401 and a 400 are the caller's problem: not reported.
        statuses.push((await request(app).get('/orders')).status);
        statuses.push((await request(app).get('/orders').set('Authorization', 'Bearer a b')).status);
        statuses.push((await request(app).get('/orders').set('Authorization', `Bearer ${token}`)).status);
      });

      assert.deepEqual(statuses, [401, 400, 503]);
      assert.deepEqual(lines, [
        `bearer-guard: 503 ERR_BEARER_JWKS_UNAVAILABLE (GET /orders): ${jwksUri}: connect ECONNREFUSED 127.0.0.1:${String(port)}\n`,
      ]);
      assert.ok(!lines.join('').includes(token));
    });

    it('cuts a presented token out of the line, even when a cause echoes it', async function () {
      const token = await as.sign();
      const app = express()
        .get('/echo', () => {
          throw new BearerGuardError('ERR_BEARER_INTROSPECTION_UNAVAILABLE', {
            cause: new Error(`the server choked on ${token}`, { cause: new Error(`token=${token}\nagain`) }),
          });
        })
        .use(errorHandler());

      const lines = await stderrLines(async () => {
        await request(app).get('/echo').set('Authorization', `Bearer ${token}`).expect(503);
        await request(app).get('/echo').query({ access_token: token }).expect(503);
      });

      assert.equal(lines.length, 2);
      for (const line of lines) {
        assert.equal(
          line,
          'bearer-guard: 503 ERR_BEARER_INTROSPECTION_UNAVAILABLE (GET /echo): the server choked on [token]: token=[token] again\n',
        );
      }
    });

    // client_secret_basic: a 401 with a Basic challenge (oauth4webapi stops at the challenge);
    // client_secret_post: a 401 with {"error":"invalid_client"} in the body.
    const refusals = [
      [
        'client_secret_basic',
        'server responded with a challenge in the WWW-Authenticate HTTP Header (HTTP 401)',
      ],
      ['client_secret_post', 'server responded with an error in the response body (HTTP 401 invalid_client)'],
    ] as const;
    for (const [authMethod, cause] of refusals) {
      it(`names the status (and error) an introspection endpoint refused our credentials with (${authMethod})`, async function () {
        const app = express()
          .use(
            authenticate({
              issuer: as.issuer,
              audience: as.audience,
              timeout: TIMEOUT,
              introspection: {
                clientId: as.introspectionClient.clientId,
                clientSecret: 'not-the-secret',
                authMethod,
                endpoint: as.introspectionEndpoint,
              },
            }),
          )
          .get('/orders', probe().handler)
          .use(errorHandler());
        const token = as.issueOpaqueToken();

        const lines = await stderrLines(async () => {
          await request(app).get('/orders').set('Authorization', `Bearer ${token}`).expect(503);
        });

        assert.deepEqual(lines, [
          `bearer-guard: 503 ERR_BEARER_INTROSPECTION_UNAVAILABLE (GET /orders): ${cause}\n`,
        ]);
        assert.ok(!lines.join('').includes(token));
      });
    }

    it('onError: false reports nothing, a custom onError replaces the line; anything else is refused at construction', async function () {
      const order = (options?: ErrorHandlerOptions) =>
        express().get('/orders', requireScopes('orders:read'), probe().handler).use(errorHandler(options));
      const recorded: string[] = [];

      const lines = await stderrLines(async () => {
        await request(order({ onError: false }))
          .get('/orders')
          .expect(500);
        await request(order({ onError: (error) => recorded.push(error.code) }))
          .get('/orders')
          .expect(500);
        await request(order()).get('/orders').expect(500);
      });

      assert.equal(lines.length, 1, 'only the default reporter writes');
      assert.deepEqual(recorded, ['ERR_BEARER_CONFIG_MIDDLEWARE_ORDER']);
      for (const onError of ['console', null, 42, true, {}]) {
        assert.throws(
          () => errorHandler({ onError } as unknown as ErrorHandlerOptions),
          (error: unknown) =>
            error instanceof ConfigurationError &&
            error.code === 'ERR_BEARER_CONFIG_INVALID_OPTION' &&
            /`onError`.*must be a function/.test(error.message),
        );
      }
      assert.throws(
        () => errorHandler({ onErorr: () => undefined } as unknown as ErrorHandlerOptions),
        (error: unknown) =>
          error instanceof ConfigurationError &&
          error.code === 'ERR_BEARER_CONFIG_UNKNOWN_OPTION' &&
          error.message.includes('`onErorr`'),
      );
    });
  });
});
