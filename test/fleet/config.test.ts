// Every variable of the README's fleet table is honoured by `npm start` (it reaches the services
// that read it) or refused at start-up with its name; the README table is read, so a row added
// there without an expectation here fails.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  FleetConfigError,
  portsFromEnv,
  serviceEnvironments,
  type Ports,
  type ServiceName,
} from '@bearer-guard/example-fleet';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The variables of the README's "The example fleet" table. */
function readmeVariables(): string[] {
  const section = README.slice(README.indexOf('## The example fleet'), README.indexOf('### In Docker'));
  const table = section.slice(section.indexOf('| variable | default | used by |'));
  const rows = table.split('\n\n')[0]?.split('\n').slice(2) ?? [];
  return rows.flatMap((row) =>
    [...(row.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => m[1] ?? ''),
  );
}

const PORTS: Ports = {
  'authorization-server': 14_000,
  gateway: 14_100,
  'orders-service': 14_200,
  'fhir-service': 14_300,
};
const ALL: ServiceName[] = ['authorization-server', 'gateway', 'orders-service', 'fhir-service'];

/** Variables a service reads itself: the value given to `npm start` must reach these services. */
const PASSED_THROUGH: Record<string, { value: string; services: ServiceName[] }> = {
  AS_DATA_DIR: { value: '/tmp/bearer-guard-config-test', services: ['authorization-server'] },
  ACCESS_TOKEN_TTL: { value: '5', services: ['authorization-server'] },
  GATEWAY_AUDIENCE: { value: 'https://gw.test.example', services: ALL },
  ORDERS_AUDIENCE: { value: 'https://orders.test.example', services: ALL },
  FHIR_AUDIENCE: { value: 'https://fhir.test.example/r4', services: ALL },
  GATEWAY_CLIENT_SECRET: {
    value: 'a-gateway-secret-for-tests',
    services: ['authorization-server', 'gateway'],
  },
  FHIR_INTROSPECTION_SECRET: {
    value: 'an-introspection-secret-for-tests',
    services: ['authorization-server', 'fhir-service'],
  },
  DEMO_CLIENT_SECRET: { value: 'a-demo-secret-for-tests', services: ['authorization-server'] },
  ORDERS_DPOP_NONCE_SECRET: {
    value: 'a-dpop-nonce-secret-for-tests-0123456789',
    services: ['orders-service'],
  },
  NODE_ENV: { value: 'production', services: ALL },
  ORDERS_URL: { value: 'http://127.0.0.1:14999', services: ['gateway'] },
  FHIR_URL: { value: 'http://127.0.0.1:14998', services: ['gateway'] },
  BACKEND_TIMEOUT_MS: { value: '750', services: ['gateway'] },
  FHIR_INTROSPECTION_CACHE_SECONDS: { value: '2', services: ['fhir-service'] },
  RATE_LIMIT_PER_MINUTE: { value: '42', services: ['gateway', 'orders-service', 'fhir-service'] },
  ALLOW_INSECURE_HTTP: { value: 'true', services: ALL },
};
const PORT_VARIABLES = ['AS_PORT', 'GATEWAY_PORT', 'ORDERS_PORT', 'FHIR_PORT'];

describe('npm start and the variables of the README table', () => {
  it('has an expectation here for every variable of the table', () => {
    const variables = readmeVariables();
    assert.ok(variables.length >= 20, `read ${String(variables.length)} variables from the README`);
    const known = new Set([...Object.keys(PASSED_THROUGH), ...PORT_VARIABLES, 'AS_ISSUER']);
    assert.deepEqual(
      variables.filter((variable) => !known.has(variable)),
      [],
    );
  });

  for (const [variable, { value, services }] of Object.entries(PASSED_THROUGH)) {
    it(`passes ${variable} to ${services.join(', ')}`, () => {
      const environments = serviceEnvironments(PORTS, { [variable]: value });
      for (const service of services) assert.equal(environments[service][variable], value, service);
    });
  }

  it('listens on AS_PORT, GATEWAY_PORT, ORDERS_PORT and FHIR_PORT, and tells each service where the others are', () => {
    const ports = portsFromEnv({
      AS_PORT: '14001',
      GATEWAY_PORT: '14101',
      ORDERS_PORT: '14201',
      FHIR_PORT: '14301',
    });
    const environments = serviceEnvironments(ports, {});
    assert.equal(environments['authorization-server']['AS_PORT'], '14001');
    assert.equal(environments.gateway['GATEWAY_PORT'], '14101');
    assert.equal(environments['orders-service']['ORDERS_PORT'], '14201');
    assert.equal(environments['fhir-service']['FHIR_PORT'], '14301');
    assert.equal(environments.gateway['AS_ISSUER'], 'http://127.0.0.1:14001');
    assert.equal(environments.gateway['ORDERS_URL'], 'http://127.0.0.1:14201');
    assert.equal(environments.gateway['FHIR_URL'], 'http://127.0.0.1:14301');
    // The URL DPoP proofs name (htu) is the one the gateway calls.
    assert.equal(environments['orders-service']['ORDERS_PUBLIC_URL'], 'http://127.0.0.1:14201');
  });

  it('refuses a port it cannot give the others (0, not a number) or one port for two services, by name', () => {
    assert.throws(() => portsFromEnv({ GATEWAY_PORT: '0' }), {
      name: 'FleetConfigError',
      code: 'ERR_FLEET_CONFIG',
      variable: 'GATEWAY_PORT',
      message: 'GATEWAY_PORT must be a port number from 1 to 65535 (npm start needs fixed ports); got "0".',
    });
    assert.throws(() => portsFromEnv({ FHIR_PORT: '43o0' }), { variable: 'FHIR_PORT' });
    assert.throws(() => portsFromEnv({ ORDERS_PORT: '4000' }), {
      variable: 'ORDERS_PORT',
      message:
        'ORDERS_PORT is 4000, the port of authorization-server (AS_PORT) too; each service needs its own.',
    });
  });

  it('honours AS_ISSUER at http://localhost:<AS_PORT> in every service', () => {
    const environments = serviceEnvironments(PORTS, { AS_ISSUER: 'http://localhost:14000' });
    for (const service of ALL) assert.equal(environments[service]['AS_ISSUER'], 'http://localhost:14000');
  });

  for (const issuer of [
    'http://localhost:4000', // not AS_PORT
    'https://127.0.0.1:14000', // the fleet serves plain http
    'http://as.example.com:14000', // not where the fleet runs it
    'http://127.0.0.1:14000/', // an issuer is compared exactly: no trailing slash
    'http://127.0.0.1:14000/oidc',
  ]) {
    it(`refuses AS_ISSUER=${issuer}, naming AS_ISSUER`, () => {
      assert.throws(
        () => serviceEnvironments(PORTS, { AS_ISSUER: issuer }),
        (error: unknown) =>
          error instanceof FleetConfigError &&
          error.variable === 'AS_ISSUER' &&
          error.message.startsWith(
            'AS_ISSUER must reach the authorization server npm start runs on http://127.0.0.1:14000',
          ) &&
          error.message.includes(JSON.stringify(issuer)),
      );
    });
  }

  it('no longer fills in the dev-only secrets itself (each service has its own default, refused in production)', () => {
    const environments = serviceEnvironments(PORTS, {});
    for (const service of ALL) {
      for (const secret of ['GATEWAY_CLIENT_SECRET', 'FHIR_INTROSPECTION_SECRET', 'DEMO_CLIENT_SECRET']) {
        assert.equal(environments[service][secret], undefined, `${service} ${secret}`);
      }
    }
  });
});
