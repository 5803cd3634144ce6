import assert from 'node:assert/strict';

import { authenticate, ConfigurationError, errorHandler, requireSmartScope } from '@bearer-guard/express';
import type { GuardOptions, SingleIssuerOptions, SmartScopeOptions } from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, TokenClaims } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { assertErrorBody, DESCRIPTION, insufficientScope, probe, TIMEOUT } from './support.js';

describe('requireSmartScope()', function () {
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

  /** A small FHIR API: Observation read/search and write, Patient read by id. */
  function fhirApi(options: Partial<SingleIssuerOptions> = {}) {
    const route = probe();
    const app = express();
    app.set('env', 'test');
    app.use(authenticate(guardOptions(options)));
    app.get('/Observation', requireSmartScope('Observation', 'read'), route.handler);
    app.get('/Observation/:id', requireSmartScope('Observation', 'r'), route.handler);
    app.post('/Observation', requireSmartScope('Observation', 'write'), route.handler);
    app.get('/Patient/:id', requireSmartScope('Patient', 'read'), route.handler);
    app.use(errorHandler());
    return { app, route };
  }

  async function bearer(claims: TokenClaims): Promise<string> {
    return `Bearer ${await as.sign(claims)}`;
  }

  const launch123 = { scope: 'launch/patient patient/Observation.rs', patient: '123' };

  describe('patient/ scopes: the launch patient only', function () {
    for (const query of [
      'patient=123',
      'patient=Patient/123',
      'subject=Patient/123',
      'patient=123&subject=Patient/123',
    ]) {
      it(`GET /Observation?${query} → 200`, async function () {
        const { app, route } = fhirApi();

        const res = await request(app)
          .get(`/Observation?${query}`)
          .set('Authorization', await bearer(launch123));

        assert.equal(res.status, 200);
        assert.equal(route.calls, 1);
      });
    }

    it('GET /Observation?patient=456 → 403 with the exact challenge', async function () {
      const { app, route } = fhirApi();

      const res = await request(app)
        .get('/Observation?patient=456')
        .set('Authorization', await bearer(launch123));

      assert.equal(res.status, 403);
      assert.equal(
        res.headers['www-authenticate'],
        'Bearer realm="api", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="patient/Observation.rs"',
      );
      assertErrorBody(res.body, 'insufficient_scope', DESCRIPTION.insufficientScope);
      assert.equal(route.calls, 0);
    });

    for (const query of [
      '',
      '?subject=123',
      '?subject=Group/123',
      '?patient=123,456',
      '?patient=123&patient=456',
      '?patient=123&subject=Patient/456',
      '?patient=https://fhir.example/Patient/123',
      '?patient=Patient/123/_history/1',
    ]) {
      it(`GET /Observation${query} → 403: no single patient compartment to match`, async function () {
        const { app, route } = fhirApi();

        const res = await request(app)
          .get(`/Observation${query}`)
          .set('Authorization', await bearer(launch123));

        assert.equal(res.status, 403);
        assert.equal(res.headers['www-authenticate'], insufficientScope('user/Observation.rs'));
        assert.equal(route.calls, 0);
      });
    }

    it('GET /Patient/123 with patient/Patient.read → 200, /Patient/456 → 403', async function () {
      const { app, route } = fhirApi();
      const auth = await bearer({ scope: 'launch/patient patient/Patient.read', patient: '123' });

      const own = await request(app).get('/Patient/123').set('Authorization', auth);
      const other = await request(app).get('/Patient/456').set('Authorization', auth);

      assert.equal(own.status, 200);
      assert.equal(other.status, 403);
      assert.equal(other.headers['www-authenticate'], insufficientScope('patient/Patient.rs'));
      assert.equal(route.calls, 1);
    });

    it('a token without a patient claim gets nothing from patient/ scopes', async function () {
      const { app, route } = fhirApi();

      const res = await request(app)
        .get('/Observation?patient=123')
        .set('Authorization', await bearer({ scope: 'patient/*.cruds' }));

      assert.equal(res.status, 403);
      assert.equal(route.calls, 0);
    });
  });

  describe('user/ and system/ scopes', function () {
    for (const patient of ['123', '456', '789']) {
      it(`system/*.read → 200 for patient ${patient}`, async function () {
        const { app, route } = fhirApi();

        const res = await request(app)
          .get(`/Observation?patient=${patient}`)
          .set('Authorization', await bearer({ scope: 'system/*.read' }));

        assert.equal(res.status, 200);
        assert.equal(route.calls, 1);
      });
    }

    it('user/Observation.rs reaches any patient and searches outside a compartment', async function () {
      const { app, route } = fhirApi();
      const auth = await bearer({ scope: 'user/Observation.rs', patient: '123' });

      const other = await request(app).get('/Observation?patient=456').set('Authorization', auth);
      const all = await request(app).get('/Observation').set('Authorization', auth);

      assert.equal(other.status, 200);
      assert.equal(all.status, 200);
      assert.equal(route.calls, 2);
    });
  });

  describe('interactions', function () {
    it('a write route with only .rs → 403 naming cud', async function () {
      const { app, route } = fhirApi();

      const res = await request(app)
        .post('/Observation?patient=123')
        .set('Authorization', await bearer(launch123));

      assert.equal(res.status, 403);
      assert.equal(res.headers['www-authenticate'], insufficientScope('patient/Observation.cud'));
      assert.equal(route.calls, 0);
    });

    it('v1 write and v2 cud both pass the write route', async function () {
      const { app, route } = fhirApi();

      for (const scope of ['patient/Observation.write', 'patient/Observation.cud', 'patient/*.*']) {
        const res = await request(app)
          .post('/Observation?patient=123')
          .set('Authorization', await bearer({ scope, patient: '123' }));
        assert.equal(res.status, 200, scope);
      }
      assert.equal(route.calls, 3);
    });

    it("'read' needs search too: .r alone opens GET /Observation/:id but not the search route", async function () {
      const { app } = fhirApi();
      const auth = await bearer({ scope: 'user/Observation.r' });

      const byId = await request(app).get('/Observation/1').set('Authorization', auth);
      const search = await request(app).get('/Observation').set('Authorization', auth);

      assert.equal(byId.status, 200);
      assert.equal(search.status, 403);
      assert.equal(search.headers['www-authenticate'], insufficientScope('user/Observation.rs'));
    });

    for (const scope of [
      'patient/observation.rs',
      'patient/Observation.sr',
      'Patient/Observation.rs',
      'patient/Observation.READ',
    ]) {
      it(`malformed "${scope}" grants nothing`, async function () {
        const { app, route } = fhirApi();

        const res = await request(app)
          .get('/Observation?patient=123')
          .set('Authorization', await bearer({ scope, patient: '123' }));

        assert.equal(res.status, 403);
        assert.equal(route.calls, 0);
      });
    }
  });

  describe('v2 search-parameter constraints', function () {
    const labs = { scope: 'patient/Observation.rs?category=laboratory', patient: '123' };

    it('grant a search that carries the constraint', async function () {
      const { app, route } = fhirApi();

      const res = await request(app)
        .get('/Observation?patient=123&category=laboratory')
        .set('Authorization', await bearer(labs));

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
    });

    for (const query of [
      'patient=123',
      'patient=123&category=vital-signs',
      'patient=123&category=laboratory&category=vital-signs',
    ]) {
      it(`deny ?${query}`, async function () {
        const { app, route } = fhirApi();

        const res = await request(app)
          .get(`/Observation?${query}`)
          .set('Authorization', await bearer(labs));

        assert.equal(res.status, 403);
        assert.equal(res.headers['www-authenticate'], insufficientScope('patient/Observation.rs'));
        assert.equal(route.calls, 0);
      });
    }
  });

  describe('challenges', function () {
    it('no token → 401 with the bare challenge', async function () {
      const { app, route } = fhirApi({ credentialsRequired: false });

      const res = await request(app).get('/Observation?patient=123');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
      assertErrorBody(res.body, 'unauthorized');
      assert.equal(route.calls, 0);
    });

    it('no token with credentials required → 401 from authenticate()', async function () {
      const { app } = fhirApi();

      const res = await request(app).get('/Observation?patient=123');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
    });

    it('the 403 carries the realm and resource_metadata of the guard', async function () {
      const { app } = fhirApi({
        realm: 'fhir',
        resourceMetadata: 'https://fhir.example/.well-known/oauth-protected-resource',
      });

      const res = await request(app)
        .get('/Observation?patient=456')
        .set('Authorization', await bearer(launch123));

      assert.equal(res.status, 403);
      assert.equal(
        res.headers['www-authenticate'],
        'Bearer realm="fhir", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="patient/Observation.rs", resource_metadata="https://fhir.example/.well-known/oauth-protected-resource"',
      );
    });
  });

  describe('patientId option', function () {
    it('a custom resolver decides the compartment (e.g. from the body of a write)', async function () {
      const route = probe();
      const app = express()
        .use(express.json())
        .use(authenticate(guardOptions()))
        .post(
          '/Observation',
          requireSmartScope('Observation', 'c', {
            patientId: (req) => {
              const reference = (req.body as { subject?: { reference?: unknown } }).subject?.reference;
              return typeof reference === 'string' ? reference.replace(/^Patient\//, '') : undefined;
            },
          }),
          route.handler,
        )
        .use(errorHandler());
      const auth = await bearer({ scope: 'patient/Observation.c', patient: '123' });

      const own = await request(app)
        .post('/Observation')
        .set('Authorization', auth)
        .send({ subject: { reference: 'Patient/123' } });
      const other = await request(app)
        .post('/Observation')
        .set('Authorization', auth)
        .send({ subject: { reference: 'Patient/456' } });

      assert.equal(own.status, 200);
      assert.equal(other.status, 403);
      assert.equal(other.headers['www-authenticate'], insufficientScope('patient/Observation.c'));
      assert.equal(route.calls, 1);
    });
  });

  describe('without authenticate() before it', function () {
    it('answers 500 ERR_BEARER_CONFIG_MIDDLEWARE_ORDER, not 401, even with a valid token', async function () {
      const route = probe();
      const seen: unknown[] = [];
      const app = express()
        .get('/Observation', requireSmartScope('Observation', 'read'), route.handler)
        .use(errorHandler({ onError: (error) => seen.push(error) }));

      const res = await request(app)
        .get('/Observation?patient=123')
        .set('Authorization', await bearer(launch123));

      assert.equal(res.status, 500);
      assert.deepEqual(res.body, { error: 'server_error' });
      assert.equal(res.headers['www-authenticate'], undefined);
      assert.equal(route.calls, 0);
      assert.ok(seen[0] instanceof ConfigurationError);
      assert.equal(seen[0].code, 'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER');
      assert.match(seen[0].message, /requireSmartScope\(\) ran without authenticate\(\)/);
    });
  });

  describe('construction', function () {
    const cases: [string, () => unknown, string, RegExp][] = [
      [
        'resource type *',
        () => requireSmartScope('*', 'read'),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /FHIR resource type/,
      ],
      [
        'lower-case type',
        () => requireSmartScope('observation', 'read'),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /"observation"/,
      ],
      [
        'interaction rs',
        () => requireSmartScope('Observation', 'rs' as 'r'),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /'read', 'write'/,
      ],
      [
        'options not an object',
        () => requireSmartScope('Observation', 'read', 'x' as SmartScopeOptions),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /must be an object/,
      ],
      [
        'unknown option',
        () => requireSmartScope('Observation', 'read', { patient: () => '1' } as SmartScopeOptions),
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        /`patient` is not an option.*patientId/,
      ],
      [
        'patientId not a function',
        () => requireSmartScope('Observation', 'read', { patientId: 'id' } as unknown as SmartScopeOptions),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        /must be a function/,
      ],
    ];
    for (const [name, build, code, message] of cases) {
      it(`${name} → ${code}`, function () {
        assert.throws(build, (error: unknown) => {
          assert.ok(error instanceof ConfigurationError);
          assert.equal(error.code, code);
          assert.match(error.message, message);
          return true;
        });
      });
    }

    it('undefined options and an undefined patientId mean the default resolver', function () {
      assert.equal(typeof requireSmartScope('Observation', 'read', undefined), 'function');
      assert.equal(typeof requireSmartScope('Observation', 'read', { patientId: undefined }), 'function');
      assert.equal(requireSmartScope('Observation', 'read').name, 'bearerGuardRequireSmartScope');
    });
  });
});
