import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BACKEND_SERVICES_KEY_FILE,
  ConfigurationError,
  DEFAULT_DATA_DIR,
  DEV_ONLY_SECRETS,
  loadConfig,
  loadOrCreateKeys,
  runSmartAuthorizationCodeFlow,
  SIGNING_KEYS_FILE,
  start,
  type AuthorizationServerConfig,
  type RunningAuthorizationServer,
} from '@bearer-guard/example-authorization-server';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
} from 'jose';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const SMART_SCOPE = 'launch/patient openid fhirUser patient/Patient.read patient/Observation.rs';

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

type Json = Record<string, unknown>;

describe('examples/authorization-server', () => {
  let dataDir: string;
  let config: AuthorizationServerConfig;
  let as: RunningAuthorizationServer;

  const post = async (
    endpoint: string,
    params: Record<string, string>,
    authorization?: string,
  ): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${as.issuer}${endpoint}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: new URLSearchParams(params),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json) };
  };
  const clientCredentials = (clientId: string, secret: string, resource: string | undefined, scope: string) =>
    post(
      '/token',
      { grant_type: 'client_credentials', scope, ...(resource === undefined ? {} : { resource }) },
      basic(clientId, secret),
    );
  const gatewayToken = async (resource: string, scope: string): Promise<string> => {
    const { status, body } = await clientCredentials('gateway', config.secrets.gateway, resource, scope);
    assert.equal(status, 200, JSON.stringify(body));
    return body['access_token'] as string;
  };
  const introspect = async (
    token: string,
    clientId = 'fhir-service',
    secret = config.secrets.fhirIntrospection,
  ) => post('/token/introspection', { token }, basic(clientId, secret));
  const jwks = async (): Promise<JSONWebKeySet> =>
    (await (await fetch(`${as.issuer}/jwks`)).json()) as JSONWebKeySet;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'bearer-guard-as-'));
    config = loadConfig({ AS_PORT: '0', AS_DATA_DIR: dataDir });
    as = await start(config);
  });
  after(async () => {
    await as.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers /health and serves a discovery document with introspection and revocation', async () => {
    const health = await fetch(`${as.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    const discovery = (await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json()) as Json;
    assert.equal(discovery['issuer'], as.issuer);
    assert.equal(discovery['introspection_endpoint'], `${as.issuer}/token/introspection`);
    assert.equal(discovery['revocation_endpoint'], `${as.issuer}/token/revocation`);
    assert.deepEqual(discovery['code_challenge_methods_supported'], ['S256']);
    assert.ok((discovery['token_endpoint_auth_methods_supported'] as string[]).includes('private_key_jwt'));
    // RFC 8414 §3 metadata, which resource servers may look up first, is the same document.
    const oauthMetadata = await fetch(`${as.issuer}/.well-known/oauth-authorization-server`);
    assert.deepEqual(await oauthMetadata.json(), discovery);
  });

  it('issues the gateway an ES256 at+jwt for GATEWAY_AUDIENCE that verifies against the JWKS', async () => {
    const token = await gatewayToken(config.audiences.gateway, 'summary:read');
    const header = decodeProtectedHeader(token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks()), {
      issuer: as.issuer,
      audience: config.audiences.gateway,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    assert.equal(payload.aud, config.audiences.gateway);
    assert.equal(payload['client_id'], 'gateway');
    assert.equal(payload['scope'], 'summary:read');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 300);
  });

  it('gives orders tokens their own audience and drops scopes of other resource servers', async () => {
    const token = await gatewayToken(config.audiences.orders, 'orders:read summary:read');
    const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks()), { issuer: as.issuer });
    assert.equal(payload.aud, config.audiences.orders);
    assert.equal(payload['scope'], 'orders:read');
  });

  it('answers invalid_target for an unknown resource, a resource the client may not use, or none', async () => {
    const cases: [string, string, string | undefined][] = [
      ['gateway', config.secrets.gateway, 'https://unknown.fleet.example'],
      ['demo-client', config.secrets.demoClient, config.audiences.orders],
      ['gateway', config.secrets.gateway, undefined],
    ];
    for (const [clientId, secret, resource] of cases) {
      const { status, body } = await clientCredentials(clientId, secret, resource, 'orders:read');
      assert.equal(status, 400, `${clientId} ${String(resource)}`);
      assert.equal(body['error'], 'invalid_target');
    }
    // The demo client's only resource is the default one.
    const { status, body } = await clientCredentials(
      'demo-client',
      config.secrets.demoClient,
      undefined,
      'summary:read',
    );
    assert.equal(status, 200);
    assert.equal(decodeProtectedHeader(body['access_token'] as string).typ, 'at+jwt');
  });

  it('issues opaque FHIR tokens that only the fhir-service may introspect', async () => {
    const token = await gatewayToken(config.audiences.fhir, 'system/Observation.rs');
    assert.equal(token.split('.').length, 1, 'an opaque token, not a JWT');

    const { status, body } = await introspect(token);
    assert.equal(status, 200);
    assert.equal(body['active'], true);
    assert.equal(body['aud'], config.audiences.fhir);
    assert.equal(body['client_id'], 'gateway');
    assert.equal(body['scope'], 'system/Observation.rs');
    assert.equal(body['iss'], as.issuer);

    assert.deepEqual((await introspect(token, 'gateway', config.secrets.gateway)).body, { active: false });
    const wrongSecret = await introspect(token, 'fhir-service', 'not-the-secret-0123456789');
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.body['error'], 'invalid_client');
  });

  it('leaves JWT access tokens to local validation: the introspection endpoint refuses them', async () => {
    const token = await gatewayToken(config.audiences.orders, 'orders:read');
    const { status, body } = await introspect(token);
    assert.equal(status, 400);
    assert.equal(body['error'], 'unsupported_token_type');
  });

  describe('backend-services (private_key_jwt, SMART Backend Services)', () => {
    const assertion = async (key: CryptoKey, kid: string | undefined) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...(kid === undefined ? {} : { kid }) })
        .setIssuer('backend-services')
        .setSubject('backend-services')
        .setAudience(`${as.issuer}/token`)
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    const grant = (clientAssertion: string) =>
      post('/token', {
        grant_type: 'client_credentials',
        scope: 'system/Observation.rs system/Patient.rs',
        resource: config.audiences.fhir,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: clientAssertion,
      });

    it('gets a FHIR token with a JWT signed by the key kept in the data dir', async () => {
      const { backendServices } = await loadOrCreateKeys(dataDir);
      const key = (await importJWK(backendServices.privateJwk, 'ES256')) as CryptoKey;
      const { status, body } = await grant(await assertion(key, backendServices.privateJwk.kid));
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body['scope'], 'system/Observation.rs system/Patient.rs');
      const introspection = await introspect(body['access_token'] as string);
      assert.equal(introspection.body['active'], true);
      assert.equal(introspection.body['client_id'], 'backend-services');
      assert.equal(introspection.body['aud'], config.audiences.fhir);
    });

    it('refuses a JWT signed by another key', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const { status, body } = await grant(await assertion(privateKey, undefined));
      assert.equal(status, 401);
      assert.equal(body['error'], 'invalid_client');
    });
  });

  describe('SMART App Launch (smart-app)', () => {
    const launch = (login: string) =>
      runSmartAuthorizationCodeFlow({
        issuer: as.issuer,
        clientId: 'smart-app',
        redirectUri: config.smartRedirectUri,
        scope: SMART_SCOPE,
        resource: config.audiences.fhir,
        login,
      });

    it('returns the patient in the token response and in introspection', async () => {
      const result = await launch('alice');
      assert.equal(result.patient, '123');
      assert.equal(result.token_type, 'bearer');
      assert.equal(result.expires_in, 300);
      assert.deepEqual(result.scope.split(' ').sort(), SMART_SCOPE.split(' ').sort());
      assert.equal(result.access_token.split('.').length, 1, 'an opaque token, not a JWT');

      const { body } = await introspect(result.access_token);
      assert.equal(body['active'], true);
      assert.equal(body['patient'], '123');
      assert.equal(body['sub'], 'alice');
      assert.equal(body['client_id'], 'smart-app');
      assert.equal(body['aud'], config.audiences.fhir);
      assert.deepEqual((body['scope'] as string).split(' ').sort(), SMART_SCOPE.split(' ').sort());

      assert.ok(result.id_token !== undefined);
      const { payload } = await jwtVerify(result.id_token, createLocalJWKSet(await jwks()), {
        issuer: as.issuer,
        audience: 'smart-app',
      });
      assert.equal(payload['fhirUser'], `${config.audiences.fhir}/Patient/123`);
    });

    it('maps other accounts to patient 456, and omits the patient without launch/patient', async () => {
      assert.equal((await launch('bob')).patient, '456');
      const withoutLaunch = await runSmartAuthorizationCodeFlow({
        issuer: as.issuer,
        clientId: 'smart-app',
        redirectUri: config.smartRedirectUri,
        scope: 'patient/Patient.read',
        resource: config.audiences.fhir,
        login: 'alice',
      });
      assert.equal(withoutLaunch.patient, undefined);
      assert.equal(withoutLaunch.scope, 'patient/Patient.read');
      assert.equal((await introspect(withoutLaunch.access_token)).body['patient'], undefined);
    });

    it('renews with offline_access: the refresh grant keeps the patient; the refresh token is not for the FHIR service', async () => {
      const result = await runSmartAuthorizationCodeFlow({
        issuer: as.issuer,
        clientId: 'smart-app',
        redirectUri: config.smartRedirectUri,
        scope: `${SMART_SCOPE} offline_access`,
        resource: config.audiences.fhir,
        login: 'alice',
      });
      assert.ok(result.refresh_token !== undefined);
      assert.deepEqual((await introspect(result.refresh_token)).body, { active: false });

      const { status, body } = await post('/token', {
        grant_type: 'refresh_token',
        refresh_token: result.refresh_token,
        client_id: 'smart-app',
        resource: config.audiences.fhir,
      });
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body['patient'], '123');
      assert.equal((await introspect(body['access_token'] as string)).body['patient'], '123');
    });

    it('refuses an authorization request without PKCE', async () => {
      const url = new URL(`${as.issuer}/auth`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: 'smart-app',
        redirect_uri: config.smartRedirectUri,
        scope: SMART_SCOPE,
        resource: config.audiences.fhir,
      }).toString();
      const res = await fetch(url, { redirect: 'manual' });
      const location = new URL(res.headers.get('location') ?? 'http://missing');
      assert.equal(location.searchParams.get('error'), 'invalid_request');
      assert.match(location.searchParams.get('error_description') ?? '', /PKCE/);
    });
  });

  it('revokes a token for its own client only; a revoked token introspects as inactive', async () => {
    const token = await gatewayToken(config.audiences.fhir, 'system/Patient.rs');
    const byOther = await post(
      '/token/revocation',
      { token },
      basic('demo-client', config.secrets.demoClient),
    );
    assert.equal(byOther.status, 400);
    assert.equal((await introspect(token)).body['active'], true);

    const revoked = await post('/token/revocation', { token }, basic('gateway', config.secrets.gateway));
    assert.equal(revoked.status, 200);
    assert.deepEqual((await introspect(token)).body, { active: false });
  });

  it('keeps its keys in the data dir: a token issued before a restart verifies against the new JWKS', async () => {
    for (const file of [SIGNING_KEYS_FILE, BACKEND_SERVICES_KEY_FILE]) {
      assert.equal((await stat(path.join(dataDir, file))).mode & 0o777, 0o600, file);
    }
    const token = await gatewayToken(config.audiences.gateway, 'summary:write');
    const before = await jwks();
    const port = Number(new URL(as.url).port);
    await as.close();
    as = await start({ ...config, port, issuer: undefined });
    const afterRestart = await jwks();
    assert.deepEqual(afterRestart, before);
    const { payload } = await jwtVerify(token, createLocalJWKSet(afterRestart), {
      issuer: as.issuer,
      audience: config.audiences.gateway,
    });
    assert.equal(payload['scope'], 'summary:write');

    const otherDir = await mkdtemp(path.join(tmpdir(), 'bearer-guard-as-'));
    try {
      const other = await loadOrCreateKeys(otherDir);
      const kids = (keys: { kid?: string }[]) => keys.map(({ kid }) => kid).sort();
      assert.notDeepEqual(kids(other.signingKeys), kids(afterRestart.keys));
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('refuses key files other users can read, or that are corrupt', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bearer-guard-as-'));
    try {
      await loadOrCreateKeys(dir);
      const file = path.join(dir, SIGNING_KEYS_FILE);
      await chmod(file, 0o644);
      await assert.rejects(
        loadOrCreateKeys(dir),
        /signing-keys\.json holds private keys but is readable by other users/,
      );
      await chmod(file, 0o600);
      await writeFile(file, '{"keys": [');
      await assert.rejects(loadOrCreateKeys(dir), /signing-keys\.json does not hold JSON\. Delete it/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('configuration', () => {
    it('has the documented defaults', () => {
      const defaults = loadConfig({});
      assert.equal(defaults.port, 4000);
      assert.equal(defaults.host, '127.0.0.1');
      assert.equal(defaults.issuer, 'http://127.0.0.1:4000');
      assert.equal(defaults.dataDir, path.join(repoRoot, '.data', 'authorization-server'));
      assert.equal(DEFAULT_DATA_DIR, defaults.dataDir);
      assert.deepEqual(defaults.audiences, {
        gateway: 'https://gateway.fleet.example',
        orders: 'https://orders.fleet.example',
        fhir: 'https://fhir.fleet.example/r4',
      });
      assert.equal(defaults.smartRedirectUri, 'http://127.0.0.1:4400/callback');
      assert.equal(defaults.accessTokenTtl, 300);
      assert.equal(loadConfig({ AS_PORT: '4100' }).issuer, 'http://127.0.0.1:4100');
    });

    it('names the variable to set when a value is wrong', () => {
      const cases: [Record<string, string>, string, RegExp][] = [
        [{ AS_PORT: 'abc' }, 'AS_PORT', /^AS_PORT must be a TCP port .*got "abc"/],
        [{ AS_PORT: '70000' }, 'AS_PORT', /^AS_PORT must be a TCP port/],
        [{ ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL', /^ACCESS_TOKEN_TTL must be a lifetime in seconds/],
        [{ AS_ISSUER: 'https://as.example/tenant' }, 'AS_ISSUER', /^AS_ISSUER must be an origin/],
        [
          { SMART_REDIRECT_URI: 'callback' },
          'SMART_REDIRECT_URI',
          /^SMART_REDIRECT_URI must be an absolute URI/,
        ],
        [{ FHIR_AUDIENCE: 'https://fhir.example#x' }, 'FHIR_AUDIENCE', /must not have a fragment/],
        [{ ORDERS_AUDIENCE: 'https://gateway.fleet.example' }, 'ORDERS_AUDIENCE', /must differ/],
        [{ GATEWAY_CLIENT_SECRET: 'short' }, 'GATEWAY_CLIENT_SECRET', /at least 16 characters/],
        [{ AS_HOST: 'not a host' }, 'AS_HOST', /^AS_HOST must be an IP address or a host name/],
      ];
      for (const [env, variable, message] of cases) {
        assert.throws(
          () => loadConfig(env),
          (error: unknown) => {
            assert.ok(error instanceof ConfigurationError);
            assert.equal(error.code, 'ERR_AS_CONFIGURATION');
            assert.equal(error.variable, variable);
            assert.match(error.message, message);
            return true;
          },
        );
      }
    });

    it('refuses each published dev-only secret when NODE_ENV=production, left unset or set explicitly', () => {
      const own = {
        GATEWAY_CLIENT_SECRET: 'a-gateway-secret-for-tests',
        FHIR_INTROSPECTION_SECRET: 'an-introspection-secret-for-tests',
        DEMO_CLIENT_SECRET: 'a-demo-secret-for-tests',
      };
      const production = { NODE_ENV: 'production', ...own };
      assert.equal(loadConfig(production).secrets.demoClient, own.DEMO_CLIENT_SECRET);
      for (const variable of Object.keys(own) as (keyof typeof own)[]) {
        for (const [value, message] of [
          [undefined, `${variable} is required when NODE_ENV=production`],
          [DEV_ONLY_SECRETS[variable], `${variable} is the published development-only value`],
        ] as const) {
          assert.throws(
            () => loadConfig({ ...production, [variable]: value }),
            (error: unknown) =>
              error instanceof ConfigurationError &&
              error.variable === variable &&
              error.message.startsWith(message) &&
              !error.message.includes(DEV_ONLY_SECRETS[variable]),
            `${variable}=${String(value)}`,
          );
        }
      }
      // Outside production the defaults stay (with a warning from main.js).
      assert.equal(loadConfig({}).secrets.gateway, DEV_ONLY_SECRETS.GATEWAY_CLIENT_SECRET);
    });
  });

  describe('main.js', () => {
    const main = path.join(repoRoot, 'examples/authorization-server/dist/main.js');
    const run = (env: Record<string, string>) =>
      spawn(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'pipe' });

    it('exits 1 naming the variable when the environment is wrong', async () => {
      const child = run({ AS_PORT: 'abc' });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1);
      assert.match(stderr, /AS_PORT must be a TCP port/);
    });

    it('exits 1 naming the secret when NODE_ENV=production and a secret is the dev-only default', async () => {
      const child = run({ NODE_ENV: 'production', AS_PORT: '0', AS_DATA_DIR: dataDir });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1);
      assert.match(
        stderr,
        /authorization-server: GATEWAY_CLIENT_SECRET is required when NODE_ENV=production/,
      );
    });

    it('tells a launcher (IPC) where it listens, and stops when the launcher goes away', async () => {
      const child = spawn(process.execPath, [main], {
        env: { PATH: process.env['PATH'] ?? '', AS_PORT: '0', AS_DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      // Killed here if an assertion fails or no message comes: a service left running holds its port.
      try {
        const [message] = (await once(child, 'message', { signal: AbortSignal.timeout(15_000) })) as [
          { type: string; url: string },
        ];
        assert.equal(message.type, 'listening');
        assert.match(message.url, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.equal((await fetch(`${message.url}/health`)).status, 200);
        child.disconnect();
        const [code] = await once(child, 'exit');
        assert.equal(code, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });

    it('exits 1 with the reason when it cannot start', async () => {
      const child = run({ AS_PORT: new URL(as.url).port, AS_DATA_DIR: dataDir });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1);
      assert.match(stderr, /could not start: .*EADDRINUSE/);
    });

    it('logs the issuer, serves, and stops on SIGTERM', async () => {
      const child = run({ AS_PORT: '0', AS_DATA_DIR: dataDir });
      let stdout = '';
      const issuer = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /issuer (http:\/\/\S+),/.exec(stdout);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.once('exit', (code) => {
          reject(new Error(`exited ${String(code)}: ${stdout}`));
        });
      });
      assert.equal((await fetch(`${issuer}/health`)).status, 200);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    });
  });
});
