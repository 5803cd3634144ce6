// The whole fleet on ephemeral ports, as child processes (the command `npm start` and the containers
// run), driven with real HTTP: the product's end-to-end proof.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createTokenClient, type TokenClient } from '@bearer-guard/client';
import { runSmartAuthorizationCodeFlow } from '@bearer-guard/example-authorization-server';
import { AUDIENCES, DEV_SECRETS, freePorts, startFleet, type Fleet } from '@bearer-guard/example-fleet';

const quiet = (): void => undefined;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function get(
  url: string,
  token?: string,
): Promise<{ status: number; body: unknown; challenge: string | null }> {
  const response = await fetch(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON
  }
  return { status: response.status, body, challenge: response.headers.get('www-authenticate') };
}

async function tokenFor(client: TokenClient, scope: string, resource: string): Promise<string> {
  return (await client.getToken({ scope, resource })).access_token;
}

describe('the example fleet, end to end', function () {
  this.timeout(120_000);
  let fleet: Fleet;
  let dataDir: string;
  let demo: TokenClient;
  let gatewayClient: TokenClient;
  /** Every line the services wrote (stdout and stderr), in order. */
  const lines: { service: string; line: string }[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bearer-guard-fleet-'));
    fleet = await startFleet({
      ports: await freePorts(),
      env: { AS_DATA_DIR: dataDir, FHIR_INTROSPECTION_CACHE_SECONDS: '2', NODE_ENV: 'test' },
      log: (service, line) => {
        lines.push({ service, line });
      },
    });
    demo = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'demo-client',
      clientSecret: DEV_SECRETS.DEMO_CLIENT_SECRET,
    });
    // As the gateway itself: DPoP-bound tokens (the orders service takes no other).
    gatewayClient = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'gateway',
      clientSecret: DEV_SECRETS.GATEWAY_CLIENT_SECRET,
      dpop: true,
    });
  });
  after(async () => {
    await fleet.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const summary = (id = '123'): string => `${fleet.urls.gateway}/patients/${id}/summary`;

  it('answers the summary with data from both backends', async () => {
    const token = await tokenFor(demo, 'summary:read', AUDIENCES.gateway);
    const { status, body } = await get(summary(), token);
    assert.equal(status, 200);
    const merged = body as {
      patient: { id: string };
      observations: unknown[];
      orders: unknown[];
      partial: boolean;
    };
    assert.equal(merged.patient.id, '123');
    assert.ok(merged.observations.length > 0, 'observations from the FHIR service');
    assert.ok(merged.orders.length > 0, 'orders from the orders service');
    assert.equal(merged.partial, false);
  });

  it('exposes Prometheus metrics at /metrics on every service: authentications, token requests, introspection', async () => {
    const token = await tokenFor(demo, 'summary:read', AUDIENCES.gateway);
    assert.equal((await get(summary(), token)).status, 200);
    const scrape = async (service: 'gateway' | 'orders-service' | 'fhir-service'): Promise<string> => {
      const response = await fetch(`${fleet.urls[service]}/metrics`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200, `${service} /metrics`);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      return response.text();
    };
    const [gateway, orders, fhir] = await Promise.all([
      scrape('gateway'),
      scrape('orders-service'),
      scrape('fhir-service'),
    ]);
    const accepted =
      /^bearer_guard_authentications_total\{[^}]*bearer_guard_outcome="accepted"[^}]*\} [1-9]/m;
    assert.match(gateway, accepted);
    assert.match(orders, accepted);
    assert.match(fhir, accepted);
    assert.match(
      gateway,
      /^bearer_guard_token_client_requests_total\{[^}]*bearer_guard_outcome="issued"[^}]*\} [1-9]/m,
    );
    assert.match(fhir, /^bearer_guard_introspection_duration_count\{[^}]*bearer_guard_outcome="active"/m);
    assert.match(orders, /^bearer_guard_keys_loads_total\{[^}]*bearer_guard_trigger="(ready|initial)"/m);
    for (const text of [gateway, orders, fhir]) {
      assert.ok(!text.includes(token), 'no token in the metrics');
      assert.doesNotMatch(text, /eyJ[\w-]+\.[\w-]+\./, 'no JWT in the metrics');
    }
  });

  it('one summary request is one trace: the gateway starts it (not the caller), propagates traceparent and the request id, every service logs them (pino JSON)', async () => {
    const token = await tokenFor(demo, 'summary:read', AUDIENCES.gateway);
    const traceId = randomBytes(16).toString('hex');
    const requestId = `req-${randomBytes(4).toString('hex')}`;
    const response = await fetch(summary(), {
      headers: {
        authorization: `Bearer ${token}`,
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        'x-request-id': requestId,
      },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-request-id'), requestId);
    await response.arrayBuffer();
    const logged = (service: string): Record<string, unknown>[] =>
      lines
        .filter((entry) => entry.service === service && entry.line.startsWith('{'))
        .map((entry) => JSON.parse(entry.line) as Record<string, unknown>)
        .filter((entry) => entry['req_id'] === requestId);
    const services = ['gateway', 'orders-service', 'fhir-service'] as const;
    for (let waited = 0; waited < 5000 && services.some((name) => logged(name).length === 0); waited += 50) {
      await sleep(50);
    }
    // The gateway is the edge: it starts its own trace rather than the caller's (request-log.ts).
    const gatewayTrace = logged('gateway')[0]?.['trace_id'];
    assert.match(String(gatewayTrace), /^[0-9a-f]{32}$/);
    assert.notEqual(gatewayTrace, traceId, "the caller's traceparent does not choose the trace");
    for (const service of services) {
      const entries = logged(service);
      assert.ok(entries.length > 0, `${service} logged the request with request id ${requestId}`);
      for (const entry of entries) {
        assert.equal(entry['trace_id'], gatewayTrace, `${service}: the gateway's trace`);
        assert.equal(entry['service'], service);
        assert.equal(entry['status'], 200);
      }
    }
    assert.equal(logged('gateway')[0]?.['route'], '/patients/:id/summary', 'the route pattern, not the path');
    const text = lines.map((entry) => entry.line).join('\n');
    assert.ok(!text.includes(token), 'no token in any log line');
  });

  it('refuses a caller without a token (401, Bearer challenge) and without summary:read (403)', async () => {
    const anonymous = await get(summary());
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.challenge, 'Bearer realm="api"');
    const writer = await get(summary(), await tokenFor(demo, 'summary:write', AUDIENCES.gateway));
    assert.equal(writer.status, 403);
    assert.match(String(writer.challenge), /error="insufficient_scope".*scope="summary:read"$/);
  });

  it('refuses a caller who goes around the gateway: no token, or the gateway token (wrong audience)', async () => {
    const callerToken = await tokenFor(demo, 'summary:read', AUDIENCES.gateway);
    for (const url of [
      `${fleet.urls['orders-service']}/orders?patient=123`,
      `${fleet.urls['fhir-service']}/Observation?patient=123`,
    ]) {
      assert.equal((await get(url)).status, 401, url);
      const wrongAudience = await get(url, callerToken);
      assert.equal(wrongAudience.status, 401, url);
      assert.match(String(wrongAudience.challenge), /error="invalid_token"/, url);
    }
  });

  it("refuses the gateway's orders token at the FHIR service (each backend has its own audience)", async () => {
    const withOrdersToken = gatewayClient.fetchFor({ scope: 'orders:read', resource: AUDIENCES.orders });
    const signal = AbortSignal.timeout(10_000);
    assert.equal(
      (await withOrdersToken(`${fleet.urls['orders-service']}/orders?patient=123`, { signal })).status,
      200,
    );
    const elsewhere = await withOrdersToken(`${fleet.urls['fhir-service']}/Observation?patient=123`, {
      signal,
    });
    assert.equal(elsewhere.status, 401);
    assert.match(String(elsewhere.headers.get('www-authenticate')), /^DPoP error="invalid_token"/);
  });

  it('orders takes only DPoP-bound tokens: a bearer token, or a DPoP-bound one sent as bearer, is refused', async () => {
    const url = `${fleet.urls['orders-service']}/orders?patient=123`;
    const bearerClient = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'gateway',
      clientSecret: DEV_SECRETS.GATEWAY_CLIENT_SECRET,
    });
    const unbound = await get(url, await tokenFor(bearerClient, 'orders:read', AUDIENCES.orders));
    assert.equal(unbound.status, 401);
    assert.match(
      String(unbound.challenge),
      /error_description="This resource requires a DPoP-bound access token."/,
    );
    const bound = await tokenFor(gatewayClient, 'orders:read', AUDIENCES.orders);
    const stolen = await get(url, bound);
    assert.equal(stolen.status, 401);
    assert.match(String(stolen.challenge), /cannot be used as a bearer token/);
  });

  it('serves the RFC 9728 documents of the orders and FHIR services', async () => {
    const orders = await get(`${fleet.urls['orders-service']}/.well-known/oauth-protected-resource`);
    assert.equal(orders.status, 200);
    assert.deepEqual(
      {
        ...(orders.body as Record<string, unknown>),
        dpop_signing_alg_values_supported: undefined,
      },
      {
        resource: fleet.urls['orders-service'],
        authorization_servers: [fleet.issuer],
        scopes_supported: ['orders:read', 'orders:write'],
        bearer_methods_supported: ['header'],
        resource_name: 'Orders',
        dpop_signing_alg_values_supported: undefined,
        dpop_bound_access_tokens_required: true,
      },
    );
    const fhir = await get(`${fleet.urls['fhir-service']}/.well-known/oauth-protected-resource`);
    assert.equal(fhir.status, 200);
    assert.equal((fhir.body as { resource: string }).resource, fleet.urls['fhir-service']);
    assert.deepEqual((fhir.body as { authorization_servers: string[] }).authorization_servers, [
      fleet.issuer,
    ]);
  });

  it('npm run demo: the summary, three refusals, then DPoP: 200, a replayed proof and a stolen token refused', async () => {
    const inherited = { ...process.env };
    delete inherited['NODE_OPTIONS']; // mocha's tsx loader: the scripts run from dist/
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '--silent', 'demo'], {
      cwd: ROOT,
      env: {
        ...inherited,
        AS_PORT: String(fleet.ports['authorization-server']),
        GATEWAY_PORT: String(fleet.ports.gateway),
        ORDERS_PORT: String(fleet.ports['orders-service']),
        FHIR_PORT: String(fleet.ports['fhir-service']),
      },
      timeout: 60_000,
    });
    assert.equal(stderr, '');
    const summaryUrl = `${fleet.urls.gateway}/patients/123/summary`;
    const orders = `${fleet.urls['orders-service']}/orders?patient=123`;
    for (const line of [
      `GET ${summaryUrl} -> 200`,
      `GET ${summaryUrl} -> 401\nWWW-Authenticate: Bearer realm="api"`,
      `GET ${summaryUrl} -> 403`,
      `4. Around the gateway, straight to the orders service, no token: refused too\nGET ${orders} -> 401`,
      `5. A DPoP-bound token (as the gateway gets them) with a proof and the server nonce: 200\nGET ${orders} -> 200`,
      `6. One proof, sent twice: the first time GET ${orders} -> 200`,
      `the second time (a replayed proof): refused\nGET ${orders} -> 401\nWWW-Authenticate: DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used."`,
      `7. The same token sent as a bearer token (a stolen token): refused\nGET ${orders} -> 401\nWWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="The access token is bound to a key and cannot be used as a bearer token."`,
    ]) {
      assert.ok(stdout.includes(line), `${line}\nnot in:\n${stdout}`);
    }
  });

  it('SMART: a patient-scoped token from the authorization-code + PKCE flow reads only its own patient', async () => {
    const launch = await runSmartAuthorizationCodeFlow({
      issuer: fleet.issuer,
      clientId: 'smart-app',
      redirectUri: 'http://127.0.0.1:4400/callback',
      scope: 'launch/patient openid fhirUser patient/Patient.read patient/Observation.rs',
      resource: AUDIENCES.fhir,
      login: 'alice',
    });
    assert.equal(launch.patient, '123');
    const own = await get(`${fleet.urls['fhir-service']}/Observation?patient=123`, launch.access_token);
    assert.equal(own.status, 200);
    assert.equal((own.body as { resourceType: string }).resourceType, 'Bundle');
    const other = await get(`${fleet.urls['fhir-service']}/Observation?patient=456`, launch.access_token);
    assert.equal(other.status, 403);
    assert.equal((other.body as { resourceType: string }).resourceType, 'OperationOutcome');
  });

  it('npm run demo:smart: runs the SMART flow step by step, then reads in (200) and out of (403) the launch context', async () => {
    const inherited = { ...process.env };
    delete inherited['NODE_OPTIONS']; // mocha's tsx loader: the scripts run from dist/
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '--silent', 'demo:smart'], {
      cwd: ROOT,
      env: {
        ...inherited,
        AS_PORT: String(fleet.ports['authorization-server']),
        GATEWAY_PORT: String(fleet.ports.gateway),
        ORDERS_PORT: String(fleet.ports['orders-service']),
        FHIR_PORT: String(fleet.ports['fhir-service']),
      },
      timeout: 60_000,
    });
    assert.equal(stderr, '');
    const fhir = fleet.urls['fhir-service'];
    for (const step of [
      /^ 1\. discovery: /m,
      /\. authorization request: response_type=code, client_id=smart-app, .*PKCE S256/,
      /\. login page: signing in as "alice"/,
      /\. consent page: accepting/,
      /\. token request: grant_type=authorization_code/,
      /\. token response: bearer access token \(\d+ s\), scope ".*launch\/patient.*", patient 123$/m,
    ]) {
      assert.match(stdout, step);
    }
    assert.ok(stdout.includes(`GET ${fhir}/Patient/123 -> 200  Patient/123`), stdout);
    assert.ok(stdout.includes(`GET ${fhir}/Observation?patient=123 -> 200  Bundle`), stdout);
    assert.ok(stdout.includes(`GET ${fhir}/Patient/456 -> 403  OperationOutcome forbidden`), stdout);
  });

  it("sees the revocation of the gateway's FHIR token within the introspection cache bound", async () => {
    // A client of its own, so the revoked token is not the one the other tests' gateway uses.
    const client = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'gateway',
      clientSecret: DEV_SECRETS.GATEWAY_CLIENT_SECRET,
    });
    const token = await tokenFor(client, 'system/Observation.rs', AUDIENCES.fhir);
    const url = `${fleet.urls['fhir-service']}/Observation?patient=123`;
    assert.equal((await get(url, token)).status, 200);
    const revoked = await fetch(`${fleet.issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`gateway:${DEV_SECRETS.GATEWAY_CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    assert.equal(revoked.status, 200);
    // FHIR_INTROSPECTION_CACHE_SECONDS is 2 in this fleet.
    await new Promise((resolve) => setTimeout(resolve, 2200));
    assert.equal((await get(url, token)).status, 401);
  });

  it('keeps validating JWTs from cached keys while the authorization server is down', async () => {
    const withOrdersToken = gatewayClient.fetchFor({ scope: 'orders:read', resource: AUDIENCES.orders });
    const url = `${fleet.urls['orders-service']}/orders?patient=123`;
    assert.equal((await withOrdersToken(url, { signal: AbortSignal.timeout(10_000) })).status, 200);
    const callerToken = await tokenFor(demo, 'summary:read', AUDIENCES.gateway);
    await fleet.stopService('authorization-server');
    // The DPoP-bound token is cached by the client, its proofs are signed locally.
    assert.equal((await withOrdersToken(url, { signal: AbortSignal.timeout(10_000) })).status, 200);
    // The gateway validates its caller locally too; its own backend tokens are cached.
    const { status } = await get(summary(), callerToken);
    assert.equal(status, 200);
  });
});

describe('the example fleet with wrong FHIR introspection credentials', function () {
  this.timeout(120_000);
  let fleet: Fleet;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bearer-guard-fleet-'));
    fleet = await startFleet({
      ports: await freePorts(),
      env: { AS_DATA_DIR: dataDir, NODE_ENV: 'test' },
      serviceEnv: { 'fhir-service': { FHIR_INTROSPECTION_SECRET: 'a-wrong-secret-for-this-test' } },
      log: quiet,
    });
  });
  after(async () => {
    await fleet.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 at the FHIR service, and the gateway degrades to a marked partial answer', async () => {
    const gatewayClient = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'gateway',
      clientSecret: DEV_SECRETS.GATEWAY_CLIENT_SECRET,
    });
    const fhirToken = await tokenFor(gatewayClient, 'system/Observation.rs', AUDIENCES.fhir);
    const direct = await get(`${fleet.urls['fhir-service']}/Observation?patient=123`, fhirToken);
    assert.equal(direct.status, 503);
    const demo = createTokenClient({
      issuer: fleet.issuer,
      clientId: 'demo-client',
      clientSecret: DEV_SECRETS.DEMO_CLIENT_SECRET,
    });
    const { status, body } = await get(
      `${fleet.urls.gateway}/patients/123/summary`,
      await tokenFor(demo, 'summary:read', AUDIENCES.gateway),
    );
    assert.equal(status, 200);
    const partial = body as {
      partial: boolean;
      unavailable: { service: string; status?: number }[];
      orders: unknown[];
    };
    assert.equal(partial.partial, true);
    assert.deepEqual(
      partial.unavailable.map((entry) => entry.service),
      ['fhir'],
    );
    assert.ok(partial.orders.length > 0);
  });
});
