import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createDpopProof,
  generateDpopKey,
  startAuthorizationServer,
  type AuthorizationServerStub,
} from '@bearer-guard/testkit';
import request from 'supertest';
import {
  createApp,
  DEV_INTROSPECTION_SECRET,
  FhirConfigError,
  loadFhirConfig,
  start,
  type RunningFhirService,
} from '@bearer-guard/example-fhir-service';
import { OPAQUE_RESOURCE, startOidcProvider, type OidcProviderFixture } from '../support/oidc-provider.js';

const AUDIENCE = 'https://fhir.fleet.example/r4';
const BASE = 'https://fhir.test.example/r4';
const SECRET = 'test-only-fhir-introspection-secret';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAIN = fileURLToPath(new URL('../../examples/fhir-service/dist/main.js', import.meta.url));
const ALGS = 'algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"';
const METADATA = 'resource_metadata="https://fhir.test.example/.well-known/oauth-protected-resource/r4"';
const DPOP_ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519';
/** The 403 of requireSmartScope: the guard's own challenge, as requireScopes gives it (both schemes, RFC 9728 §5.1). */
const INSUFFICIENT_SCOPE = (scope: string, metadata = METADATA): string =>
  'Bearer realm="api", error="insufficient_scope", ' +
  `error_description="The access token does not carry the scope this resource requires.", scope="${scope}", ${metadata}, ` +
  `DPoP algs="${DPOP_ALGS}", ${metadata}`;

interface Bundle {
  resourceType: string;
  type: string;
  total: number;
  link: { relation: string; url: string }[];
  entry: { fullUrl: string; resource: { id: string; subject?: { reference: string } } }[];
}

const ids = (bundle: Bundle): string[] => bundle.entry.map((entry) => entry.resource.id);

function assertOutcome(body: unknown, code: string): void {
  const outcome = body as {
    resourceType: string;
    issue: { severity: string; code: string; diagnostics: string }[];
  };
  assert.equal(outcome.resourceType, 'OperationOutcome');
  assert.equal(outcome.issue.length, 1);
  const [issue] = outcome.issue;
  assert.ok(issue);
  assert.deepEqual({ severity: issue.severity, code: issue.code }, { severity: 'error', code });
  assert.equal(typeof issue.diagnostics, 'string');
}

describe('examples/fhir-service', () => {
  let as: AuthorizationServerStub;
  let service: RunningFhirService;
  const logged: string[] = [];
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    AS_ISSUER: as.issuer,
    FHIR_PORT: '0',
    FHIR_INTROSPECTION_SECRET: SECRET,
    FHIR_BASE_URL: BASE,
    ...extra,
  });

  before(async () => {
    as = await startAuthorizationServer({ audience: AUDIENCE });
    as.registerClient({ clientId: 'fhir-service', clientSecret: SECRET });
    service = await start(loadFhirConfig(env()), { log: (message) => logged.push(message) });
  });
  after(async () => {
    await service.close();
    await as.close();
  });
  afterEach(() => {
    as.setBehaviour('introspection', { mode: 'ok' });
  });

  const get = (path: string, claims?: Record<string, unknown>): request.Test => {
    const test = request(service.url).get(path);
    return claims === undefined ? test : test.set('Authorization', `Bearer ${as.issueOpaqueToken(claims)}`);
  };
  const launchedFor123 = { patient: '123', scope: 'launch/patient patient/Observation.rs', sub: 'amy' };
  const system = { scope: 'system/Observation.rs system/Patient.rs', client_id: 'gateway', sub: 'gateway' };

  describe('patient/ scopes', () => {
    it("reads the launch patient's Observations as a searchset Bundle of application/fhir+json", async () => {
      const res = await get('/Observation?patient=123', launchedFor123)
        .expect(200)
        .expect('content-type', FHIR_JSON);
      const bundle = res.body as Bundle;
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.type, 'searchset');
      assert.deepEqual(ids(bundle), ['obs-123-hr', 'obs-123-wt', 'obs-123-hgb']);
      assert.equal(bundle.total, 3);
      assert.ok(bundle.entry.every((entry) => entry.resource.subject?.reference === 'Patient/123'));
      assert.equal(bundle.entry[0]?.fullUrl, `${BASE}/Observation/obs-123-hr`);
      assert.deepEqual(bundle.link, [{ relation: 'self', url: `${BASE}/Observation?patient=123` }]);
      assert.equal(as.lastIntrospectionRequest?.clientId, 'fhir-service');
      assert.equal(as.lastIntrospectionRequest.authMethod, 'client_secret_basic');
    });

    it('accepts subject=Patient/123 and patient=Patient/123', async () => {
      const bySubject = await get('/Observation?subject=Patient/123', launchedFor123).expect(200);
      assert.equal((bySubject.body as Bundle).total, 3);
      const byReference = await get(
        '/Observation?patient=Patient/123&category=laboratory',
        launchedFor123,
      ).expect(200);
      assert.deepEqual(ids(byReference.body as Bundle), ['obs-123-hgb']);
    });

    it('refuses another patient with 403 OperationOutcome naming the scope', async () => {
      const res = await get('/Observation?patient=456', launchedFor123)
        .expect(403)
        .expect('content-type', FHIR_JSON);
      assertOutcome(res.body, 'forbidden');
      assert.equal(res.headers['www-authenticate'], INSUFFICIENT_SCOPE('patient/Observation.s'));
    });

    it('refuses a search without a patient, which could reach anyone', async () => {
      const res = await get('/Observation', launchedFor123).expect(403);
      assert.equal(res.headers['www-authenticate'], INSUFFICIENT_SCOPE('user/Observation.s'));
    });

    it('reads an Observation by id only in the patient compartment, and hides which ids exist', async () => {
      await get('/Observation/obs-123-hgb', launchedFor123).expect(200).expect('content-type', FHIR_JSON);
      assertOutcome((await get('/Observation/obs-456-hr', launchedFor123).expect(403)).body, 'forbidden');
      await get('/Observation/obs-nope', launchedFor123).expect(403);
    });

    it('needs a Patient scope for the Patient resource', async () => {
      await get('/Patient/123', launchedFor123).expect(403);
      const res = await get('/Patient/123', { patient: '123', scope: 'patient/Patient.r' }).expect(200);
      assert.equal(res.body.resourceType, 'Patient');
      await get('/Patient?_id=123', { patient: '123', scope: 'patient/Patient.s' }).expect(200);
      await get('/Patient?_id=456', { patient: '123', scope: 'patient/Patient.s' }).expect(403);
    });

    it('honours a search-constrained v2 scope, and refuses a modifier that would widen it', async () => {
      const labOnly = { patient: '123', scope: 'patient/Observation.rs?category=laboratory' };
      const res = await get('/Observation?patient=123&category=laboratory', labOnly).expect(200);
      assert.deepEqual(ids(res.body as Bundle), ['obs-123-hgb']);
      await get('/Observation?patient=123', labOnly).expect(403);
      const widened = await get(
        '/Observation?patient=123&category=laboratory&category:not=x',
        labOnly,
      ).expect(400);
      assertOutcome(widened.body, 'not-supported');
    });
  });

  describe('system/ scopes', () => {
    it('reads any patient', async () => {
      const res = await get('/Observation?patient=456', system).expect(200);
      assert.deepEqual(ids(res.body as Bundle), ['obs-456-hr', 'obs-456-glu']);
      assert.equal((await get('/Observation', system).expect(200)).body.total, 5);
      assert.equal((await get('/Patient/456', system).expect(200)).body.id, '456');
      assert.deepEqual(ids((await get('/Patient?_id=123', system).expect(200)).body as Bundle), ['123']);
      assert.equal(
        (await get('/Observation?code=http://loinc.org|8867-4', system).expect(200)).body.total,
        2,
      );
    });

    it('answers 404 OperationOutcome for an unknown resource', async () => {
      assertOutcome(
        (await get('/Patient/999', system).expect(404).expect('content-type', FHIR_JSON)).body,
        'not-found',
      );
      assertOutcome((await get('/Encounter', system).expect(404)).body, 'not-found');
    });

    it('answers 400 OperationOutcome for unknown, repeated or malformed search parameters', async () => {
      assertOutcome(
        (await get('/Observation?_include=Observation:subject', system).expect(400)).body,
        'not-supported',
      );
      assertOutcome((await get('/Observation?patient=123&patient=456', system).expect(400)).body, 'invalid');
      assertOutcome((await get('/Observation?subject=Group/1', system).expect(400)).body, 'invalid');
      assertOutcome((await get('/Patient?_id=123,456', system).expect(400)).body, 'invalid');
    });
  });

  describe('tokens', () => {
    it('answers 401 with a bare challenge and an OperationOutcome without a token', async () => {
      const res = await get('/Observation?patient=123').expect(401).expect('content-type', FHIR_JSON);
      // Bearer or DPoP (RFC 9449 §7.1), each naming the RFC 9728 metadata (§5.1).
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer realm="api", ${METADATA}, DPoP ${ALGS}, ${METADATA}`,
      );
      assertOutcome(res.body, 'login');
    });

    it('answers 401 invalid_token to a revoked token and to a token for another audience', async () => {
      const token = as.issueOpaqueToken(launchedFor123);
      as.revoke(token);
      const revoked = await request(service.url)
        .get('/Observation?patient=123')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
      assert.equal(
        revoked.headers['www-authenticate'],
        `Bearer realm="api", error="invalid_token", error_description="The access token is not active.", ${METADATA}, DPoP ${ALGS}, ${METADATA}`,
      );
      assertOutcome(revoked.body, 'login');
      const other = await get('/Observation?patient=123', {
        ...launchedFor123,
        aud: 'https://orders.fleet.example',
      });
      assert.equal(other.status, 401);
    });

    it("takes a DPoP-bound token (the gateway's) with its proof, and refuses it as a bearer token", async () => {
      const key = await generateDpopKey();
      const token = as.issueOpaqueToken({ ...system, ...key.cnf, token_type: 'DPoP' });
      const proof = await createDpopProof(key, {
        htm: 'GET',
        htu: `${BASE}/Patient/123`,
        accessToken: token,
      });
      const ok = await request(service.url)
        .get('/Patient/123')
        .set({ Authorization: `DPoP ${token}`, DPoP: proof })
        .expect(200);
      assert.equal(ok.body.id, '123');
      const stolen = await request(service.url)
        .get('/Patient/123')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
      assert.match(String(stolen.headers['www-authenticate']), /cannot be used as a bearer token/);
    });

    it('serves its RFC 9728 metadata at the path-inserted well-known URL, open', async () => {
      const res = await request(service.url).get('/.well-known/oauth-protected-resource/r4').expect(200);
      assert.equal(res.body.resource, BASE);
      assert.deepEqual(res.body.authorization_servers, [as.issuer]);
      assert.equal(res.body.resource_name, 'FHIR R4');
      assert.ok(res.body.scopes_supported.includes('system/Observation.rs'));
      assert.equal(res.body.dpop_bound_access_tokens_required, undefined);
      assert.ok(Array.isArray(res.body.dpop_signing_alg_values_supported));
    });

    it('answers 503 OperationOutcome with Retry-After when the introspection endpoint is down', async () => {
      as.setBehaviour('introspection', { mode: 'fail', status: 500 });
      const res = await get('/Observation?patient=123', launchedFor123)
        .expect(503)
        .expect('content-type', FHIR_JSON);
      assertOutcome(res.body, 'transient');
      assert.match(String(res.headers['retry-after']), /^\d+$/);
      assert.equal(res.headers['www-authenticate'], undefined);
    });

    it('answers 503, never 401, when the authorization server refuses its own client credentials', async () => {
      const { app } = createApp(loadFhirConfig(env({ FHIR_INTROSPECTION_SECRET: 'wrong' })));
      const res = await request(app)
        .get('/Observation?patient=123')
        .set('Authorization', `Bearer ${as.issueOpaqueToken(launchedFor123)}`)
        .expect(503);
      assertOutcome(res.body, 'transient');
    });
  });

  describe('discovery (unauthenticated)', () => {
    it('serves a CapabilityStatement with the SMART security service and oauth-uris', async () => {
      const res = await get('/metadata').expect(200).expect('content-type', FHIR_JSON);
      assert.equal(res.body.resourceType, 'CapabilityStatement');
      assert.equal(res.body.fhirVersion, '4.0.1');
      assert.equal(res.body.implementation.url, BASE);
      const { security } = res.body.rest[0];
      assert.deepEqual(security.service[0].coding[0], {
        system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
        code: 'SMART-on-FHIR',
        display: 'SMART-on-FHIR',
      });
      assert.deepEqual(security.extension, [
        {
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [
            { url: 'authorize', valueUri: `${as.origin}/authorize` },
            { url: 'token', valueUri: `${as.origin}/token` },
            { url: 'introspect', valueUri: as.introspectionEndpoint },
          ],
        },
      ]);
    });

    it('serves /.well-known/smart-configuration', async () => {
      const res = await get('/.well-known/smart-configuration')
        .expect(200)
        .expect('content-type', /^application\/json/);
      assert.equal(res.body.issuer, as.issuer);
      assert.equal(res.body.authorization_endpoint, `${as.origin}/authorize`);
      assert.equal(res.body.token_endpoint, `${as.origin}/token`);
      assert.equal(res.body.introspection_endpoint, as.introspectionEndpoint);
      assert.equal(res.body.jwks_uri, as.jwksUri);
      assert.deepEqual(res.body.code_challenge_methods_supported, ['S256']);
      for (const capability of [
        'launch-standalone',
        'client-public',
        'client-confidential-symmetric',
        'permission-v2',
        'permission-v1',
        'context-standalone-patient',
      ]) {
        assert.ok(res.body.capabilities.includes(capability), capability);
      }
      assert.ok(res.body.scopes_supported.includes('patient/Observation.rs'));
    });

    it('answers /metadata 503 OperationOutcome with Retry-After while the authorization server is down', async () => {
      const gone = await startAuthorizationServer();
      await gone.close();
      const messages: string[] = [];
      const { app } = createApp(loadFhirConfig(env({ AS_ISSUER: gone.issuer })), {
        log: (m) => messages.push(m),
      });
      const res = await request(app).get('/metadata').expect(503).expect('content-type', FHIR_JSON);
      assertOutcome(res.body, 'transient');
      assert.equal(res.headers['retry-after'], '5');
      assert.deepEqual(messages, ['fhir-service: authorization-server metadata unavailable']);
      await assert.rejects(start(loadFhirConfig(env({ AS_ISSUER: gone.issuer }))), {
        code: 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
      });
    });
  });

  describe('against node-oidc-provider (the fleet AS serves OpenID discovery only)', () => {
    let op: OidcProviderFixture;
    let fhir: RunningFhirService;
    before(async () => {
      op = await startOidcProvider();
      fhir = await start(
        loadFhirConfig({
          AS_ISSUER: op.issuer,
          FHIR_PORT: '0',
          FHIR_AUDIENCE: OPAQUE_RESOURCE,
          FHIR_INTROSPECTION_CLIENT_ID: op.resourceServer.clientId,
          FHIR_INTROSPECTION_SECRET: op.resourceServer.clientSecret,
        }),
      );
    });
    after(async () => {
      await fhir.close();
      await op.close();
    });

    it('takes the SMART endpoints from its metadata', async () => {
      const res = await request(fhir.url).get('/.well-known/smart-configuration').expect(200);
      assert.equal(res.body.authorization_endpoint, `${op.issuer}/auth`);
      assert.equal(res.body.token_endpoint, `${op.issuer}/token`);
      assert.equal(res.body.introspection_endpoint, `${op.issuer}/token/introspection`);
    });

    it('introspects its opaque tokens: 403 without a SMART scope, 401 once revoked', async () => {
      const token = await op.token(OPAQUE_RESOURCE, 'read');
      const res = await request(fhir.url)
        .get('/Observation?patient=123')
        .set('Authorization', `Bearer ${token}`)
        .expect(403);
      // This service's FHIR_BASE_URL is the test's placeholder `http://127.0.0.1:0`.
      assert.equal(
        res.headers['www-authenticate'],
        INSUFFICIENT_SCOPE(
          'patient/Observation.s',
          'resource_metadata="http://127.0.0.1:0/.well-known/oauth-protected-resource"',
        ),
      );
      assert.ok((op.requests.get('/token/introspection') ?? 0) >= 1);
      const revoked = await op.token(OPAQUE_RESOURCE, 'read');
      await op.revoke(revoked);
      await request(fhir.url)
        .get('/Observation?patient=123')
        .set('Authorization', `Bearer ${revoked}`)
        .expect(401);
    });
  });

  it('answers 429 OperationOutcome past RATE_LIMIT_PER_MINUTE', async () => {
    const { app } = createApp(loadFhirConfig(env({ RATE_LIMIT_PER_MINUTE: '1' })));
    await request(app).get('/health').expect(200);
    await request(app).get('/metadata').expect(200);
    const res = await request(app).get('/metadata').expect(429);
    assertOutcome(res.body, 'throttled');
    assert.ok(res.headers['retry-after']);
  });

  describe('configuration', () => {
    it('has the documented defaults', () => {
      assert.deepEqual(loadFhirConfig({}), {
        port: 4300,
        host: '127.0.0.1',
        issuer: 'http://127.0.0.1:4000',
        audience: AUDIENCE,
        introspectionClientId: 'fhir-service',
        introspectionSecret: DEV_INTROSPECTION_SECRET,
        introspectionEndpoint: undefined,
        baseUrl: 'http://127.0.0.1:4300',
        rateLimitPerMinute: 600,
        introspectionCacheSeconds: 60,
        allowInsecureHttp: false,
      });
      assert.equal(
        loadFhirConfig({ FHIR_PORT: '8080', FHIR_BASE_URL: 'https://x.example/r4/' }).baseUrl,
        'https://x.example/r4',
      );
      assert.equal(loadFhirConfig({ FHIR_PORT: '8080' }).baseUrl, 'http://127.0.0.1:8080');
    });

    it('accepts http authorization-server URLs beyond loopback only with ALLOW_INSECURE_HTTP=true', () => {
      const env = {
        AS_ISSUER: 'http://authorization-server:4000',
        FHIR_INTROSPECTION_ENDPOINT: 'http://authorization-server:4000/token/introspection',
        ALLOW_INSECURE_HTTP: 'true',
      };
      assert.doesNotThrow(() => createApp(loadFhirConfig(env)));
      assert.throws(() => loadFhirConfig({ ...env, ALLOW_INSECURE_HTTP: undefined }), {
        variable: 'AS_ISSUER',
      });
    });

    const wrong: [Record<string, string>, string, RegExp][] = [
      [{ FHIR_PORT: '-1' }, 'FHIR_PORT', /^FHIR_PORT must be an integer from 0 to 65535; got "-1"\.$/],
      [{ FHIR_HOST: 'a/b' }, 'FHIR_HOST', /^FHIR_HOST must be a host name/],
      [{ AS_ISSUER: 'http://as.example.com' }, 'AS_ISSUER', /^AS_ISSUER must be an https URL/],
      [{ FHIR_AUDIENCE: 'fhir' }, 'FHIR_AUDIENCE', /^FHIR_AUDIENCE must be an absolute URI/],
      [{ FHIR_INTROSPECTION_CLIENT_ID: ' ' }, 'FHIR_INTROSPECTION_CLIENT_ID', /is set but empty/],
      [
        { FHIR_INTROSPECTION_SECRET: '' },
        'FHIR_INTROSPECTION_SECRET',
        /^FHIR_INTROSPECTION_SECRET is set but empty\.$/,
      ],
      [{ NODE_ENV: 'production' }, 'FHIR_INTROSPECTION_SECRET', /is required when NODE_ENV=production/],
      [
        { NODE_ENV: 'production', FHIR_INTROSPECTION_SECRET: DEV_INTROSPECTION_SECRET },
        'FHIR_INTROSPECTION_SECRET',
        /^FHIR_INTROSPECTION_SECRET is the published development-only value, refused when NODE_ENV=production/,
      ],
      [{ FHIR_INTROSPECTION_ENDPOINT: 'x' }, 'FHIR_INTROSPECTION_ENDPOINT', /must be an https URL/],
      [
        { FHIR_BASE_URL: 'fhir.example.com' },
        'FHIR_BASE_URL',
        /^FHIR_BASE_URL must be an absolute http\(s\) URL/,
      ],
      [{ FHIR_BASE_URL: 'https://x.example/?a=1' }, 'FHIR_BASE_URL', /must not contain credentials, a query/],
      [{ ALLOW_INSECURE_HTTP: '1' }, 'ALLOW_INSECURE_HTTP', /^ALLOW_INSECURE_HTTP must be "true" or "false"/],
      [
        { RATE_LIMIT_PER_MINUTE: 'many' },
        'RATE_LIMIT_PER_MINUTE',
        /^RATE_LIMIT_PER_MINUTE must be an integer/,
      ],
    ];
    for (const [variables, variable, message] of wrong) {
      it(`names ${variable} for ${JSON.stringify(variables)}`, () => {
        assert.throws(() => loadFhirConfig(variables), {
          name: 'FhirConfigError',
          code: 'ERR_FHIR_CONFIG',
          variable,
          message,
        });
        assert.throws(() => loadFhirConfig(variables), FhirConfigError);
      });
    }

    it('main.js exits 1 with the message naming the variable', async () => {
      const run = promisify(execFile)(process.execPath, [MAIN], {
        env: { PATH: process.env['PATH'], FHIR_BASE_URL: 'nope' },
      });
      await assert.rejects(run, (error: { code?: unknown; stderr?: unknown }) => {
        assert.equal(error.code, 1);
        assert.equal(
          error.stderr,
          'FHIR_BASE_URL must be an absolute http(s) URL such as "https://fhir.example.com/r4"; got "nope".\n',
        );
        return true;
      });
    });
  });
});
