// `npm start` as a process (`node examples/fleet/dist/main.js`, what the script runs after `tsc -b`):
// it refuses a taken port, an environment it cannot honour and the dev-only secrets in production,
// each with a message naming the cause, and stops the whole fleet when one service stops.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTokenClient } from '@bearer-guard/client';
import { AUDIENCES, DEV_SECRETS, freePort, freePorts, type Ports } from '@bearer-guard/example-fleet';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Launcher {
  readonly process: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code; rejects after `ms`. */
  exit(ms: number): Promise<number | null>;
  /** Resolves once stdout matches `pattern`; rejects when the launcher exits first or after `ms`. */
  output(pattern: RegExp, ms: number): Promise<RegExpMatchArray>;
}

const launchers: ChildProcess[] = [];

/** The launcher with the test's ports; `NODE_OPTIONS` (mocha's tsx loader) is not passed on. */
function launch(ports: Ports, env: NodeJS.ProcessEnv): Launcher {
  const inherited = { ...process.env };
  delete inherited['NODE_OPTIONS']; // mocha's tsx loader: the scripts run from dist/
  const child = spawn(process.execPath, [join(ROOT, 'examples/fleet/dist/main.js')], {
    cwd: ROOT,
    env: {
      ...inherited,
      AS_PORT: String(ports['authorization-server']),
      GATEWAY_PORT: String(ports.gateway),
      ORDERS_PORT: String(ports['orders-service']),
      FHIR_PORT: String(ports['fhir-service']),
      NODE_ENV: 'test',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  launchers.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${what} within ${String(ms)} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      }, ms);
      promise.then(resolve, reject).finally(() => {
        clearTimeout(timer);
      });
    });
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit: (ms) => deadline(exited, ms, 'the launcher did not exit'),
    output: (pattern, ms) =>
      deadline(
        new Promise((resolve, reject) => {
          const check = (): void => {
            const match = pattern.exec(stdout);
            if (match !== null) resolve(match);
          };
          child.stdout.on('data', check);
          check();
          void exited.then(() => {
            reject(new Error(`the launcher exited before printing ${String(pattern)}\n${stdout}\n${stderr}`));
          });
        }),
        ms,
        `the launcher did not print ${String(pattern)}`,
      ),
  };
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start (the fleet launcher as a process)', function () {
  this.timeout(120_000);
  let dataDir: string;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'bearer-guard-launcher-'));
  });
  afterEach(async () => {
    for (const child of launchers.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('a port already taken (a second npm start)', () => {
    let occupant: Server;
    afterEach(async () => {
      occupant.close();
      await once(occupant, 'close');
    });

    it('exits 1 naming the port and its variable, and starts no service', async () => {
      const ports = await freePorts();
      // Another fleet's gateway, as far as a health check can tell.
      occupant = createServer((_req, res) => res.writeHead(200).end('{"status":"ok"}'));
      occupant.listen(ports.gateway, '127.0.0.1');
      await once(occupant, 'listening');
      const launcher = launch(ports, { AS_DATA_DIR: dataDir });
      assert.equal(await launcher.exit(60_000), 1);
      assert.equal(
        launcher.stderr().trim(),
        `The fleet did not start: port ${String(ports.gateway)} (GATEWAY_PORT, the gateway) is already in use on 127.0.0.1: is another fleet running? Stop it, or set GATEWAY_PORT to a free port.`,
      );
      assert.doesNotMatch(launcher.stdout(), /fleet is up|\[authorization-server\]/);
    });
  });

  it('exits 1 naming AS_ISSUER when it names another port than AS_PORT', async () => {
    const ports = await freePorts();
    const elsewhere = `http://localhost:${String(await freePort())}`;
    const launcher = launch(ports, { AS_DATA_DIR: dataDir, AS_ISSUER: elsewhere });
    assert.equal(await launcher.exit(60_000), 1);
    assert.match(
      launcher.stderr(),
      /^The fleet did not start: AS_ISSUER must reach the authorization server/,
    );
    assert.ok(launcher.stderr().includes(JSON.stringify(elsewhere)));
    assert.doesNotMatch(launcher.stdout(), /fleet is up/);
  });

  it('exits 1 with NODE_ENV=production and the dev-only secrets, naming the secret', async () => {
    const ports = await freePorts();
    const launcher = launch(ports, { AS_DATA_DIR: dataDir, NODE_ENV: 'production' });
    assert.equal(await launcher.exit(60_000), 1);
    assert.match(
      launcher.stderr(),
      /The fleet did not start: authorization-server exited \(code 1\) before it was listening: authorization-server: GATEWAY_CLIENT_SECRET is required when NODE_ENV=production/,
    );
    assert.doesNotMatch(launcher.stdout(), /fleet is up/);
  });

  it('exits 1 with NODE_ENV=production and a dev-only secret set explicitly, naming it', async () => {
    const ports = await freePorts();
    const launcher = launch(ports, {
      AS_DATA_DIR: dataDir,
      NODE_ENV: 'production',
      GATEWAY_CLIENT_SECRET: 'a-gateway-secret-for-tests',
      FHIR_INTROSPECTION_SECRET: 'an-introspection-secret-for-tests',
      DEMO_CLIENT_SECRET: DEV_SECRETS.DEMO_CLIENT_SECRET,
    });
    assert.equal(await launcher.exit(60_000), 1);
    assert.match(
      launcher.stderr(),
      /authorization-server: DEMO_CLIENT_SECRET is the published development-only value, refused when NODE_ENV=production/,
    );
    assert.doesNotMatch(launcher.stdout(), /fleet is up/);
  });

  describe('a running fleet', () => {
    it('honours AS_ISSUER=http://localhost:<AS_PORT> and ORDERS_URL, then stops every service and exits 1 naming the one killed', async () => {
      const ports = await freePorts();
      const closed = await freePort(); // nothing listens there: the orders part becomes unavailable
      const launcher = launch(ports, {
        AS_DATA_DIR: dataDir,
        AS_ISSUER: `http://localhost:${String(ports['authorization-server'])}`,
        ORDERS_URL: `http://127.0.0.1:${String(closed)}`,
      });
      await launcher.output(/Try it:/, 90_000);
      const pid = (label: string): number => {
        const match = new RegExp(`^\\s+${label}\\s+\\S+\\s+pid (\\d+)`, 'm').exec(launcher.stdout());
        assert.ok(match?.[1] !== undefined, `the banner gives the ${label} pid`);
        return Number(match[1]);
      };
      const pids = ['authorization server', 'gateway', 'orders service', 'FHIR service'].map(pid);
      assert.ok(pids.every(isRunning));

      // AS_ISSUER: the issuer identifier is the one given, and every service accepts its tokens.
      const issuer = `http://localhost:${String(ports['authorization-server'])}`;
      const discovery = await fetch(
        `http://127.0.0.1:${String(ports['authorization-server'])}/.well-known/openid-configuration`,
      );
      assert.equal(((await discovery.json()) as { issuer: string }).issuer, issuer);
      const demo = createTokenClient({
        issuer,
        clientId: 'demo-client',
        clientSecret: DEV_SECRETS.DEMO_CLIENT_SECRET,
      });
      const { access_token: token } = await demo.getToken({
        scope: 'summary:read',
        resource: AUDIENCES.gateway,
      });
      const summary = await fetch(`http://127.0.0.1:${String(ports.gateway)}/patients/123/summary`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(summary.status, 200);
      // ORDERS_URL: the gateway called the address given, where nothing listens.
      const body = (await summary.json()) as {
        partial: boolean;
        unavailable: { service: string; reason: string }[];
      };
      assert.equal(body.partial, true);
      assert.deepEqual(body.unavailable, [{ service: 'orders', reason: 'unavailable' }]);

      // One service killed: the launcher stops the others and exits 1, naming it.
      const [authorizationServer, gateway, orders, fhir] = pids as [number, number, number, number];
      process.kill(fhir, 'SIGKILL');
      assert.equal(await launcher.exit(30_000), 1);
      assert.match(
        launcher.stderr(),
        /The fleet stopped: fhir-service exited \(signal SIGKILL\); stopping the other services\./,
      );
      for (const other of [authorizationServer, gateway, orders])
        assert.equal(isRunning(other), false, String(other));
    });
  });
});
