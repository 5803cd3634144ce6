import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';
import request from 'supertest';
import {
  createApp,
  DEV_CLIENT_SECRET,
  GatewayConfigError,
  loadConfig,
  start,
  type BackendClient,
  type GatewayConfig,
  type GatewayLogger,
} from '@bearer-guard/example-gateway';

const GATEWAY_AUDIENCE = 'https://gateway.fleet.example';
const ORDERS_AUDIENCE = 'https://orders.fleet.example';
const FHIR_AUDIENCE = 'https://fhir.fleet.example/r4';
const ORDERS_TOKEN = 'gateway-token-for-orders';
const FHIR_TOKEN = 'gateway-token-for-fhir';

/** How a fake backend answers: normally, with a status, or never. */
type Mode =
  { mode: 'ok' } | { mode: 'status'; status: number; headers?: Record<string, string> } | { mode: 'hang' };

interface Received {
  path: string;
  authorization: string | undefined;
  dpop: string | undefined;
  accept: string | undefined;
  traceparent: string | undefined;
}

/**
 * One fake backend on 127.0.0.1: answers from `routes`, records what it received, and counts
 * requests in flight across every backend sharing `flight` (to see parallel calls without timing).
 */
class FakeBackend {
  readonly received: Received[] = [];
  behaviour: Mode = { mode: 'ok' };
  /** Hold each answer until this many requests arrived across backends (or 1 s passed). */
  gate = 0;
  private readonly hung = new Set<ServerResponse>();
  private readonly server: Server;

  constructor(
    private readonly routes: (path: string) => { status: number; body: unknown } | undefined,
    private readonly flight: { now: number; max: number; arrived: number; waiters: (() => void)[] },
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  reset(): void {
    this.received.length = 0;
    this.behaviour = { mode: 'ok' };
    this.gate = 0;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  async close(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '';
    this.received.push({
      path,
      authorization: req.headers.authorization,
      dpop: req.headers.dpop as string | undefined,
      accept: req.headers.accept,
      traceparent: req.headers['traceparent'] as string | undefined,
    });
    const flight = this.flight;
    flight.now += 1;
    flight.arrived += 1;
    flight.max = Math.max(flight.max, flight.now);
    for (const wake of flight.waiters.splice(0)) wake();
    try {
      if (this.gate > 0) {
        const deadline = Date.now() + 1000;
        while (flight.arrived < this.gate && Date.now() < deadline) {
          await new Promise<void>((resolve) => {
            flight.waiters.push(resolve);
            setTimeout(resolve, 50);
          });
        }
      }
      const behaviour = this.behaviour;
      if (behaviour.mode === 'hang') {
        this.hung.add(res);
        return;
      }
      if (behaviour.mode === 'status') {
        res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers });
        res.end(JSON.stringify({ error: 'backend says no' }));
        return;
      }
      const answer = this.routes(path.split('?')[0] ?? '') ?? { status: 404, body: { error: 'not_found' } };
      const type = path.startsWith('/orders') ? 'application/json' : 'application/fhir+json';
      res.writeHead(answer.status, { 'content-type': `${type}; charset=utf-8` });
      res.end(JSON.stringify(answer.body));
    } finally {
      flight.now -= 1;
    }
  }
}

const PATIENT = {
  resourceType: 'Patient',
  id: '123',
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'] }],
  gender: 'male',
  birthDate: '1974-12-25',
};
const OBSERVATIONS = {
  resourceType: 'Bundle',
  type: 'searchset',
  entry: [
    {
      resource: {
        resourceType: 'Observation',
        id: 'obs-1',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        valueQuantity: { value: 72, unit: 'beats/minute' },
        effectiveDateTime: '2024-05-01T10:00:00Z',
      },
    },
  ],
};
const ORDERS = { orders: [{ id: 'o-1', patient: '123', item: 'metformin 500 mg', status: 'active' }] };

const EXPECTED_PATIENT = { id: '123', name: 'Peter James Chalmers', gender: 'male', birthDate: '1974-12-25' };
const EXPECTED_OBSERVATIONS = [
  {
    id: 'obs-1',
    status: 'final',
    code: 'Heart rate',
    value: 72,
    unit: 'beats/minute',
    effective: '2024-05-01T10:00:00Z',
  },
];

/** A token source that attaches a fixed token, as the real client would attach the gateway's. */
function fixedTokenClient(token: string): BackendClient {
  return {
    fetch(url, init) {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(url, { ...init, headers });
    },
  };
}

class RecordingLogger implements GatewayLogger {
  readonly lines: { message: string; details: Record<string, unknown> }[] = [];
  warn(message: string, details: Record<string, unknown>): void {
    this.lines.push({ message, details });
  }
}

/** `id:secret` from a Basic header, each part form-decoded as RFC 6749 §2.3.1 asks. */
function basicCredentials(header: string | undefined): string | undefined {
  if (header?.startsWith('Basic ') !== true) return undefined;
  const [id = '', secret = ''] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
  const decode = (part: string) => decodeURIComponent(part.replaceAll('+', ' '));
  return `${decode(id)}:${decode(secret)}`;
}

/** A tiny RFC 6749 §4.4 token endpoint: checks `gateway`'s Basic credentials, mints a token per resource. */
async function startTokenEndpoint(secret: string) {
  const requests: { scope: string | null; resource: string | null; authorized: boolean; proof: boolean }[] =
    [];
  /** Resources whose token requests answer 503, as if the authorization server were down for them. */
  const failFor = new Set<string>();
  let issued = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const authorized =
        basicCredentials(req.headers.authorization) === `gateway:${secret}` &&
        form.get('grant_type') === 'client_credentials';
      const proof = typeof req.headers.dpop === 'string';
      requests.push({ scope: form.get('scope'), resource: form.get('resource'), authorized, proof });
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'no-store');
      if (!authorized) {
        res.writeHead(401).end(JSON.stringify({ error: 'invalid_client' }));
        return;
      }
      const resource = form.get('resource') ?? 'none';
      if (failFor.has(resource)) {
        res.writeHead(503).end(JSON.stringify({ error: 'temporarily_unavailable' }));
        return;
      }
      issued += 1;
      res.end(
        JSON.stringify({
          access_token: `real-${resource}-${String(issued)}`,
          // As node-oidc-provider: a request with a DPoP proof gets a DPoP-bound token (RFC 9449 §5).
          token_type: proof ? 'DPoP' : 'Bearer',
          expires_in: 300,
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/token`,
    requests,
    failFor,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('examples/gateway', () => {
  let as: AuthorizationServerStub;
  let orders: FakeBackend;
  let fhir: FakeBackend;
  let base: GatewayConfig;
  let logger: RecordingLogger;
  let callerToken: string;
  const flight = { now: 0, max: 0, arrived: 0, waiters: [] as (() => void)[] };

  before(async () => {
    as = await startAuthorizationServer({ audience: GATEWAY_AUDIENCE, algorithms: ['ES256'] });
    orders = new FakeBackend(
      (path) => (path === '/orders' ? { status: 200, body: ORDERS } : undefined),
      flight,
    );
    fhir = new FakeBackend((path) => {
      if (path === '/Patient/123') return { status: 200, body: PATIENT };
      if (path === '/Observation') return { status: 200, body: OBSERVATIONS };
      return undefined;
    }, flight);
    base = {
      ...loadConfig({}),
      issuer: as.issuer,
      ordersUrl: await orders.listen(),
      fhirUrl: await fhir.listen(),
      backendTimeoutMs: 300,
    };
  });
  beforeEach(async () => {
    orders.reset();
    fhir.reset();
    flight.max = 0;
    flight.arrived = 0;
    logger = new RecordingLogger();
    callerToken = await as.sign({ scope: 'summary:read', sub: 'alice' });
  });
  after(async () => {
    await Promise.all([as.close(), orders.close(), fhir.close()]);
  });

  const gateway = (config: Partial<GatewayConfig> = {}) =>
    createApp(
      { ...base, ...config },
      { ordersClient: fixedTokenClient(ORDERS_TOKEN), fhirClient: fixedTokenClient(FHIR_TOKEN), logger },
    );
  const summary = (app: ReturnType<typeof createApp>, id = '123') =>
    request(app).get(`/patients/${id}/summary`).set('Authorization', `Bearer ${callerToken}`);
  const allReceived = () => [...orders.received, ...fhir.received];

  it('merges the FHIR patient, its observations and its orders', async () => {
    const res = await summary(gateway()).expect(200);
    assert.deepEqual(res.body, {
      patient: EXPECTED_PATIENT,
      observations: EXPECTED_OBSERVATIONS,
      orders: ORDERS.orders,
      partial: false,
      unavailable: [],
    });
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(
      orders.received.map((r) => r.path),
      ['/orders?patient=123'],
    );
    assert.deepEqual(fhir.received.map((r) => r.path).sort(), ['/Observation?patient=123', '/Patient/123']);
    assert.deepEqual(
      fhir.received.map((r) => r.accept),
      ['application/fhir+json', 'application/fhir+json'],
    );
  });

  it("sends each backend the gateway's own token, never the caller's", async () => {
    await summary(gateway()).expect(200);
    assert.deepEqual(
      orders.received.map((r) => r.authorization),
      [`Bearer ${ORDERS_TOKEN}`],
    );
    assert.deepEqual(
      fhir.received.map((r) => r.authorization),
      [`Bearer ${FHIR_TOKEN}`, `Bearer ${FHIR_TOKEN}`],
    );
    assert.ok(allReceived().every((r) => r.authorization?.includes(callerToken) !== true));
  });

  it("starts a new trace at the edge: a caller's traceparent is not the backends' trace (one trace across them)", async () => {
    const callerTrace = 'abcdef0123456789abcdef0123456789';
    await summary(gateway()).set('traceparent', `00-${callerTrace}-0123456789abcdef-01`).expect(200);
    const traces = allReceived().map(
      (r) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(r.traceparent ?? '')?.[1],
    );
    assert.equal(traces.length, 3);
    assert.ok(traces[0] !== undefined, 'each backend call carries a traceparent');
    assert.deepEqual(new Set(traces), new Set([traces[0]]), 'one trace across the backend calls');
    assert.notEqual(traces[0], callerTrace, 'the caller did not choose the trace id');
  });

  it('calls the backends in parallel: all three requests are in flight at once', async () => {
    orders.gate = 3;
    fhir.gate = 3;
    await summary(gateway({ backendTimeoutMs: 5000 })).expect(200);
    assert.equal(flight.max, 3);
  });

  it('answers 401 with a bare challenge without a token, and calls no backend', async () => {
    const res = await request(gateway()).get('/patients/123/summary').expect(401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
    assert.equal(allReceived().length, 0);
  });

  it('answers 403 insufficient_scope to a caller without summary:read', async () => {
    callerToken = await as.sign({ scope: 'orders:read' });
    const res = await summary(gateway()).expect(403);
    assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope".*scope="summary:read"/);
    assert.equal(res.body.error, 'insufficient_scope');
    assert.equal(allReceived().length, 0);
  });

  it('refuses a caller token for another audience (401 invalid_token)', async () => {
    callerToken = await as.sign({ scope: 'summary:read', aud: ORDERS_AUDIENCE });
    const res = await summary(gateway()).expect(401);
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
  });

  for (const id of ['a_b', 'a%2Fb', '..%2Fadmin', 'x'.repeat(65), '12%3Fx%3D1']) {
    it(`answers 400 for the patient id ${JSON.stringify(decodeURIComponent(id)).slice(0, 24)} and calls no backend`, async () => {
      const res = await summary(gateway(), id).expect(400);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(allReceived().length, 0);
    });
  }

  it('accepts the whole FHIR id grammar: letters, digits, "-" and "."', async () => {
    const res = await summary(gateway(), 'A-b.9').expect(404);
    assert.equal(res.body.error, 'not_found');
    assert.ok(orders.received.some((r) => r.path === '/orders?patient=A-b.9'));
  });

  it('answers 404 when the FHIR service does not know the patient', async () => {
    const res = await summary(gateway(), '404').expect(404);
    assert.deepEqual(res.body, { error: 'not_found', error_description: 'No patient with this id.' });
  });

  it('orders 503 → 200 partial, orders null and marked unavailable', async () => {
    orders.behaviour = { mode: 'status', status: 503 };
    const res = await summary(gateway()).expect(200);
    assert.deepEqual(res.body, {
      patient: EXPECTED_PATIENT,
      observations: EXPECTED_OBSERVATIONS,
      orders: null,
      partial: true,
      unavailable: [{ service: 'orders', status: 503, reason: 'unavailable' }],
    });
  });

  it('orders 500 → partial with reason "error"', async () => {
    orders.behaviour = { mode: 'status', status: 500 };
    const res = await summary(gateway()).expect(200);
    assert.deepEqual(res.body.unavailable, [{ service: 'orders', status: 500, reason: 'error' }]);
  });

  it('a hanging FHIR service is cut at BACKEND_TIMEOUT_MS → partial with reason "timeout"', async () => {
    fhir.behaviour = { mode: 'hang' };
    const started = Date.now();
    const res = await summary(gateway({ backendTimeoutMs: 300 })).expect(200);
    // Generous bound: the point is that the answer comes at all, not how fast.
    assert.ok(Date.now() - started < 3000, `answered after ${String(Date.now() - started)} ms`);
    assert.deepEqual(res.body, {
      patient: null,
      observations: null,
      orders: ORDERS.orders,
      partial: true,
      unavailable: [{ service: 'fhir', reason: 'timeout' }],
    });
  });

  it('an unreachable backend (connection refused) → partial with reason "unavailable"', async () => {
    // Port 2 (privileged, unassigned, not on fetch's blocked list): nothing listens there. A port
    // taken and released by the test could be reused by another server of the suite meanwhile.
    const res = await summary(gateway({ ordersUrl: 'http://127.0.0.1:2' })).expect(200);
    assert.deepEqual(res.body.unavailable, [{ service: 'orders', reason: 'unavailable' }]);
  });

  it('both backends down → 503 temporarily_unavailable with Retry-After', async () => {
    orders.behaviour = { mode: 'status', status: 503 };
    fhir.behaviour = { mode: 'hang' };
    const res = await summary(gateway()).expect(503);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal(res.body.error, 'temporarily_unavailable');
  });

  it('a backend refusing the gateway\'s token (403) counts as unavailable with reason "error" and is logged', async () => {
    fhir.behaviour = {
      mode: 'status',
      status: 403,
      headers: { 'www-authenticate': 'Bearer error="insufficient_scope"' },
    };
    const res = await summary(gateway()).expect(200);
    assert.deepEqual(res.body.unavailable, [{ service: 'fhir', status: 403, reason: 'error' }]);
    const refused = logger.lines.filter((line) => line.message.includes('refused the gateway token'));
    assert.equal(refused.length, 2);
    assert.equal(refused[0]?.details['challenge'], 'Bearer error="insufficient_scope"');
  });

  it('an unusable backend answer (not JSON, wrong resource) counts as that backend\'s "error"', async () => {
    const app = createApp(base, {
      ordersClient: fixedTokenClient(ORDERS_TOKEN),
      fhirClient: {
        fetch: (url) =>
          Promise.resolve(
            url.includes('/Patient/')
              ? new Response('<html></html>', { status: 200, headers: { 'content-type': 'text/html' } })
              : Response.json({ resourceType: 'OperationOutcome' }),
          ),
      },
      logger,
    });
    const res = await summary(app).expect(200);
    assert.deepEqual(res.body.unavailable, [{ service: 'fhir', status: 200, reason: 'error' }]);
    assert.equal(res.body.patient, null);
    assert.equal(res.body.observations, null);
    assert.deepEqual(res.body.orders, ORDERS.orders);
  });

  it('keeps /health open and rate-limits the rest', async () => {
    const app = gateway({ rateLimitPerMinute: 2 });
    await request(app).get('/patients/123/summary').expect(401);
    await request(app).get('/patients/123/summary').expect(401);
    const res = await request(app).get('/patients/123/summary').expect(429);
    assert.equal(res.body.error, 'too_many_requests');
    const health = await request(app).get('/health').expect(200);
    assert.deepEqual(health.body, { status: 'ok' });
    assert.equal(health.headers['x-content-type-options'], 'nosniff');
  });

  describe('with the real @bearer-guard/client against a token endpoint', () => {
    let tokenEndpoint: Awaited<ReturnType<typeof startTokenEndpoint>>;
    let issuerAs: AuthorizationServerStub;

    before(async () => {
      tokenEndpoint = await startTokenEndpoint('s3cret-for-tests');
      // The stub's discovery documents point at the fake token endpoint (the stub has none itself).
      issuerAs = await startAuthorizationServer({
        audience: GATEWAY_AUDIENCE,
        algorithms: ['ES256'],
        metadata: { token_endpoint: tokenEndpoint.url },
      });
    });
    after(async () => {
      await Promise.all([tokenEndpoint.close(), issuerAs.close()]);
    });
    beforeEach(() => {
      tokenEndpoint.requests.length = 0;
      tokenEndpoint.failFor.clear();
    });

    const realGateway = (config: Partial<GatewayConfig> = {}) =>
      createApp(
        {
          ...base,
          issuer: issuerAs.issuer,
          clientSecret: 's3cret-for-tests',
          backendTimeoutMs: 5000,
          ...config,
        },
        { logger },
      );

    it('gets one token per backend (scope + resource) and sends it, never the caller token', async () => {
      const app = realGateway();
      const caller = await issuerAs.sign({ scope: 'summary:read' });
      for (let i = 0; i < 2; i++) {
        const res = await request(app).get('/patients/123/summary').set('Authorization', `Bearer ${caller}`);
        assert.equal(res.status, 200);
        assert.equal(res.body.partial, false);
      }
      assert.deepEqual(
        tokenEndpoint.requests.map((r) => [r.scope, r.resource, r.authorized]).sort(),
        [
          ['orders:read', ORDERS_AUDIENCE, true],
          ['system/Observation.rs system/Patient.rs', FHIR_AUDIENCE, true],
        ],
        'one token request per backend, cached for the second summary',
      );
      assert.equal(
        new Set(orders.received.map((r) => r.authorization)).size,
        1,
        'the cached token is reused',
      );
      // The gateway's tokens are DPoP-bound: each token request and backend call carries a proof.
      assert.ok(tokenEndpoint.requests.every((r) => r.proof));
      assert.ok(orders.received.every((r) => r.authorization?.startsWith(`DPoP real-${ORDERS_AUDIENCE}-`)));
      assert.ok(fhir.received.every((r) => r.authorization?.startsWith(`DPoP real-${FHIR_AUDIENCE}-`)));
      assert.equal(new Set(allReceived().map((r) => r.dpop)).size, 6, 'a new proof per call');
      assert.equal(allReceived().length, 6);
      assert.ok(allReceived().every((r) => r.authorization !== `Bearer ${caller}`));
    });

    it('no token for one backend (authorization server failing for it, nothing cached) → partial', async () => {
      tokenEndpoint.failFor.add(FHIR_AUDIENCE);
      const caller = await issuerAs.sign({ scope: 'summary:read' });
      const res = await request(realGateway())
        .get('/patients/123/summary')
        .set('Authorization', `Bearer ${caller}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.unavailable, [{ service: 'fhir', reason: 'unavailable' }]);
      assert.deepEqual(res.body.orders, ORDERS.orders);
      assert.equal(fhir.received.length, 0, 'no call goes out without a token');
    });

    it('a cached token keeps working while the token endpoint fails', async () => {
      const app = realGateway();
      const caller = await issuerAs.sign({ scope: 'summary:read' });
      await request(app).get('/patients/123/summary').set('Authorization', `Bearer ${caller}`).expect(200);
      tokenEndpoint.failFor.add(ORDERS_AUDIENCE).add(FHIR_AUDIENCE);
      const res = await request(app).get('/patients/123/summary').set('Authorization', `Bearer ${caller}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.partial, false);
      assert.equal(tokenEndpoint.requests.length, 2);
    });

    it('no token (credentials refused, nothing cached) → that backend unavailable; both → 503', async () => {
      const app = realGateway({ clientSecret: 'wrong' });
      const caller = await issuerAs.sign({ scope: 'summary:read' });
      const res = await request(app).get('/patients/123/summary').set('Authorization', `Bearer ${caller}`);
      assert.equal(res.status, 503);
      assert.equal(allReceived().length, 0);
      assert.ok(logger.lines.some((line) => line.message === 'no token for the backend call'));
    });
  });

  describe('configuration', () => {
    it('has the documented defaults', () => {
      assert.deepEqual(loadConfig({}), {
        port: 4100,
        host: '127.0.0.1',
        issuer: 'http://127.0.0.1:4000',
        audience: GATEWAY_AUDIENCE,
        clientId: 'gateway',
        clientSecret: DEV_CLIENT_SECRET,
        ordersUrl: 'http://127.0.0.1:4200',
        ordersAudience: ORDERS_AUDIENCE,
        fhirUrl: 'http://127.0.0.1:4300',
        fhirAudience: FHIR_AUDIENCE,
        backendTimeoutMs: 2000,
        rateLimitPerMinute: 600,
        allowInsecureHttp: false,
      });
    });

    it('accepts plain http beyond loopback only with ALLOW_INSECURE_HTTP=true (the compose network)', () => {
      const env = { AS_ISSUER: 'http://authorization-server:4000', ORDERS_URL: 'http://orders-service:4200' };
      assert.throws(() => loadConfig(env), { variable: 'AS_ISSUER' });
      const config = loadConfig({ ...env, ALLOW_INSECURE_HTTP: 'true' });
      assert.equal(config.issuer, 'http://authorization-server:4000');
      assert.equal(config.allowInsecureHttp, true);
      assert.throws(() => loadConfig({ ALLOW_INSECURE_HTTP: 'yes' }), { variable: 'ALLOW_INSECURE_HTTP' });
    });

    const wrong: [string, string][] = [
      ['GATEWAY_PORT', 'http'],
      ['GATEWAY_PORT', '70000'],
      ['GATEWAY_HOST', 'http://x'],
      ['AS_ISSUER', 'not a url'],
      ['AS_ISSUER', 'http://as.example.com'],
      ['GATEWAY_AUDIENCE', 'gateway'],
      ['GATEWAY_CLIENT_ID', ' '],
      ['GATEWAY_CLIENT_SECRET', ''],
      ['ORDERS_URL', 'ftp://127.0.0.1'],
      ['ORDERS_AUDIENCE', 'https://orders.example#x'],
      ['FHIR_URL', 'http://127.0.0.1:4300?x=1'],
      ['FHIR_AUDIENCE', ''],
      ['BACKEND_TIMEOUT_MS', '0'],
      ['BACKEND_TIMEOUT_MS', '1.5'],
      ['RATE_LIMIT_PER_MINUTE', '-1'],
    ];
    for (const [variable, value] of wrong) {
      it(`names ${variable} when it is ${JSON.stringify(value)}`, () => {
        assert.throws(
          () => loadConfig({ [variable]: value }),
          (error: unknown) => {
            assert.ok(error instanceof GatewayConfigError);
            assert.equal(error.name, 'GatewayConfigError');
            assert.equal(error.code, 'ERR_GATEWAY_CONFIG');
            assert.equal(error.variable, variable);
            assert.ok(error.message.startsWith(`${variable} `), error.message);
            return true;
          },
        );
      });
    }

    it('requires GATEWAY_CLIENT_SECRET when NODE_ENV=production', () => {
      assert.throws(() => loadConfig({ NODE_ENV: 'production' }), { variable: 'GATEWAY_CLIENT_SECRET' });
      assert.equal(loadConfig({ NODE_ENV: 'production', GATEWAY_CLIENT_SECRET: 'x' }).clientSecret, 'x');
    });

    it('refuses the dev-only GATEWAY_CLIENT_SECRET set explicitly when NODE_ENV=production (a launcher filling it in)', () => {
      assert.throws(() => loadConfig({ NODE_ENV: 'production', GATEWAY_CLIENT_SECRET: DEV_CLIENT_SECRET }), {
        name: 'GatewayConfigError',
        variable: 'GATEWAY_CLIENT_SECRET',
        message:
          'GATEWAY_CLIENT_SECRET is the published development-only value, refused when NODE_ENV=production; set a secret of your own.',
      });
      assert.equal(loadConfig({ GATEWAY_CLIENT_SECRET: DEV_CLIENT_SECRET }).clientSecret, DEV_CLIENT_SECRET);
    });

    it('drops a trailing slash from backend URLs but keeps the issuer verbatim', () => {
      const config = loadConfig({
        ORDERS_URL: 'https://orders.internal/api/',
        AS_ISSUER: 'https://as.example/',
      });
      assert.equal(config.ordersUrl, 'https://orders.internal/api');
      assert.equal(config.issuer, 'https://as.example/');
    });
  });

  describe('start() and main.js', () => {
    it('start() listens on an ephemeral port and close() stops it', async () => {
      const running = await start(
        { ...base, port: 0 },
        { ordersClient: fixedTokenClient(ORDERS_TOKEN), fhirClient: fixedTokenClient(FHIR_TOKEN), logger },
      );
      const res = await fetch(`${running.url}/health`);
      assert.equal(res.status, 200);
      await running.close();
      await assert.rejects(fetch(`${running.url}/health`));
    });

    it('main.js exits 1 with the message naming a wrong variable', async () => {
      const main = fileURLToPath(new URL('../../examples/gateway/dist/main.js', import.meta.url));
      const child = spawn(process.execPath, [main], {
        env: { ...process.env, BACKEND_TIMEOUT_MS: 'soon' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 1);
      assert.match(stderr, /^BACKEND_TIMEOUT_MS must be an integer from 1 to 60000; got "soon"\./);
    });
  });
});
