// The authorization server's node-oidc-provider adapter on a real redis-server: two processes of it
// (the command `npm start` and the containers run) share grants, tokens and revocations, and a
// restarted one still knows them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigurationError,
  DEV_ONLY_SECRETS,
  loadConfig,
  redisAdapter,
  runSmartAuthorizationCodeFlow,
} from '@bearer-guard/example-authorization-server';
import { freePort } from '@bearer-guard/example-fleet';
import { createClient } from 'redis';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FHIR = 'https://fhir.fleet.example/r4';

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const GATEWAY = basic('gateway', DEV_ONLY_SECRETS.GATEWAY_CLIENT_SECRET);
const FHIR_SERVICE = basic('fhir-service', DEV_ONLY_SECRETS.FHIR_INTROSPECTION_SECRET);

interface AsProcess {
  readonly url: string;
  stop(): Promise<void>;
}

describe('examples/authorization-server on Redis (REDIS_URL)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let dataDir: string;
  let issuer: string;
  const running: AsProcess[] = [];

  /** `node examples/authorization-server/dist/main.js` on `port`, with the shared issuer and Redis. */
  async function startAs(port: number): Promise<AsProcess> {
    const inherited = { ...process.env };
    delete inherited['NODE_OPTIONS']; // mocha's tsx loader: the service runs from dist/
    const child: ChildProcess = spawn(
      process.execPath,
      [join(ROOT, 'examples/authorization-server/dist/main.js')],
      {
        env: {
          ...inherited,
          NODE_ENV: 'test',
          AS_PORT: String(port),
          AS_ISSUER: issuer,
          AS_DATA_DIR: dataDir,
          REDIS_URL: redis.url,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = `http://127.0.0.1:${String(port)}`;
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    };
    for (let waited = 0; waited < 30_000 && child.exitCode === null; waited += 100) {
      const ok = await fetch(`${url}/health`).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) {
        assert.match(output, /storage: {3}Redis \(REDIS_URL\)/);
        const process = { url, stop };
        running.push(process);
        return process;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await stop();
    throw new Error(`the authorization server did not start:\n${output}`);
  }

  const post = async (base: string, path: string, authorization: string, params: Record<string, string>) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
      signal: AbortSignal.timeout(10_000),
    });
    return {
      status: response.status,
      body: (await response.json().catch(() => ({}))) as Record<string, unknown>,
    };
  };
  const fhirToken = async (base: string): Promise<string> => {
    const { status, body } = await post(base, '/token', GATEWAY, {
      grant_type: 'client_credentials',
      scope: 'system/Observation.rs',
      resource: FHIR,
    });
    assert.equal(status, 200);
    return String(body['access_token']);
  };
  const introspect = async (base: string, token: string): Promise<Record<string, unknown>> =>
    (await post(base, '/token/introspection', FHIR_SERVICE, { token })).body;

  before(async () => {
    redis = await startRedisServer();
    dataDir = mkdtempSync(join(tmpdir(), 'bearer-guard-as-redis-'));
  });
  after(async () => {
    await Promise.all(running.map((as) => as.stop()));
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shares tokens and revocations between two processes, and keeps them across a restart', async () => {
    const [port1, port2] = [await freePort(), await freePort()];
    issuer = `http://127.0.0.1:${String(port1)}`;
    const [as1, as2] = await Promise.all([startAs(port1), startAs(port2)]);

    // Issued by process 1, introspected by process 2.
    const token = await fhirToken(as1.url);
    const seen = await introspect(as2.url, token);
    assert.equal(seen['active'], true);
    assert.equal(seen['client_id'], 'gateway');
    assert.equal(seen['aud'], FHIR);

    // Revoked at process 2 (RFC 7009), inactive at process 1.
    const revoked = await post(as2.url, '/token/revocation', GATEWAY, { token });
    assert.equal(revoked.status, 200);
    assert.deepEqual(await introspect(as1.url, token), { active: false });

    // A token issued before a restart is still active after it, at the new process.
    const kept = await fhirToken(as1.url);
    await as1.stop();
    const restarted = await startAs(port1);
    assert.equal((await introspect(restarted.url, kept))['active'], true);
    assert.deepEqual(await introspect(restarted.url, token), { active: false }, 'and still revoked');
  });

  it('stores each token under its own key that expires with it (EX = expiresIn)', async () => {
    const as = running.at(-1); // the restarted one
    assert.ok(as !== undefined);
    await fhirToken(as.url);
    const client = await createClient({ url: redis.url }).connect();
    try {
      const keys = await client.keys('bearer-guard-fleet:oidc:ClientCredentials:*');
      assert.ok(keys.length >= 1);
      for (const key of keys) {
        const ttl = await client.ttl(key);
        assert.ok(ttl > 0 && ttl <= 300, `${key}: ttl ${String(ttl)} (ACCESS_TOKEN_TTL is 300)`);
      }
    } finally {
      await client.close();
    }
  });

  it('keeps the authorization-code grant (session, grant, code) there: its token is active at the other process', async () => {
    // The flow runs at the (restarted) process on the issuer address; the other one checks.
    const as1 = running.at(-1);
    const as2 = running.find((as) => as.url !== issuer);
    assert.ok(as1 !== undefined && as2 !== undefined);
    assert.equal(as1.url, issuer);
    const launch = await runSmartAuthorizationCodeFlow({
      issuer,
      clientId: 'smart-app',
      redirectUri: 'http://127.0.0.1:4400/callback',
      scope: 'launch/patient openid fhirUser patient/Patient.read patient/Observation.rs',
      resource: FHIR,
      login: 'alice',
    });
    const seen = await introspect(as2.url, launch.access_token);
    assert.equal(seen['active'], true);
    assert.equal(seen['client_id'], 'smart-app');
    assert.equal(seen['sub'], 'alice');
    // The grant index: revoking the grant (what the provider does when a code is used twice)
    // through the adapter ends its tokens at every process.
    const client = await createClient({ url: redis.url }).connect();
    try {
      const grantId = typeof seen['grantId'] === 'string' ? seen['grantId'] : '';
      const grants = await client.keys('bearer-guard-fleet:oidc:grant:*');
      assert.equal(grants.length, 1, 'one grant index set');
      const members = await client.sMembers(grants[0] ?? '');
      assert.ok(
        members.some((key) => key.startsWith('bearer-guard-fleet:oidc:AccessToken:')),
        members.join(),
      );
      const grant = (grants[0] ?? '').slice('bearer-guard-fleet:oidc:grant:'.length);
      assert.ok(grantId === '' || grantId === grant);
      await redisAdapter(client)('AccessToken').revokeByGrantId(grant);
      assert.deepEqual(await introspect(as1.url, launch.access_token), { active: false });
      assert.equal(await client.exists(grants[0] ?? ''), 0, 'the index went with its members');
    } finally {
      await client.close();
    }
  });

  it('consumes a code that is there, and leaves nothing behind for one that is gone', async () => {
    const client = await createClient({ url: redis.url }).connect();
    try {
      const codes = redisAdapter(client, 'consume-test:')('AuthorizationCode');
      await codes.upsert('present', { grantId: 'g1', accountId: 'alice' }, 60);
      await codes.consume('present');
      const consumed = await codes.find('present');
      assert.equal(typeof consumed?.consumed, 'number', 'marked consumed');
      assert.equal(consumed?.['accountId'], 'alice', 'payload kept');
      assert.ok((await client.ttl('consume-test:AuthorizationCode:present')) > 0, 'its TTL kept');

      await codes.consume('gone');
      assert.equal(
        await client.exists('consume-test:AuthorizationCode:gone'),
        0,
        'no record without payload',
      );
    } finally {
      await client.close();
    }
  });

  it('refuses a REDIS_URL that is not a redis:// URL, without echoing it', () => {
    assert.throws(
      () => loadConfig({ REDIS_URL: 'http://user:secret@127.0.0.1:6379' }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.variable === 'REDIS_URL' &&
        !error.message.includes('secret'),
    );
    assert.equal(loadConfig({}).redisUrl, undefined);
    assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390' }).redisUrl, 'redis://127.0.0.1:6390');
  });
});
