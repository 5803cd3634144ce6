/**
 * A real `redis-server` per test file: its own port on 127.0.0.1, nothing persisted, stopped after.
 * Without redis-server the tests fail (they never skip): install it (Debian/Ubuntu `apt-get install
 * redis-server`, macOS `brew install redis`) or point `REDIS_SERVER` at the binary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

/** The redis-server binary: `REDIS_SERVER`, else the first on PATH, else a clear error. */
export function redisServerBinary(): string {
  const configured = process.env['REDIS_SERVER'];
  const candidates =
    configured !== undefined && configured !== ''
      ? [configured]
      : [
          ...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean),
          '/usr/bin',
          '/usr/local/bin',
        ].map((dir) => path.join(dir, 'redis-server'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(
    `The @bearer-guard/redis tests need a real redis-server and none was found (${configured === undefined || configured === '' ? 'PATH' : `REDIS_SERVER=${configured}`}): install it ` +
      '(Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) or set REDIS_SERVER to its path.',
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Kill the server (SIGKILL: as a crash, no clean shutdown); clients see their connections drop. */
  kill(): Promise<void>;
  /** Start it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stop it for good. */
  stop(): Promise<void>;
}

function launch(binary: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${String(port)} did not start within 10 s:\n${output}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.resume(); // keep draining its log, so it never blocks on a full pipe
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${String(port)} exited (${String(code)}):\n${output}`));
    });
  });
}

async function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  child.kill(signal);
  await done;
}

/** Start a redis-server. */
export async function startRedisServer(): Promise<RedisServer> {
  const binary = redisServerBinary();
  let port = await freePort();
  let child: ChildProcess | undefined;
  // A port found free can be taken by someone else before redis-server binds it: try another.
  for (let attempt = 0; child === undefined; attempt++) {
    try {
      child = await launch(binary, port);
    } catch (error) {
      if (attempt >= 3) throw error;
      port = await freePort();
    }
  }
  let current: ChildProcess | undefined = child;
  return {
    port,
    url: `redis://127.0.0.1:${String(port)}`,
    async kill() {
      if (current !== undefined) await exited(current, 'SIGKILL');
      current = undefined;
    },
    async restart() {
      if (current !== undefined) await exited(current, 'SIGKILL');
      current = await launch(binary, port);
    },
    async stop() {
      if (current !== undefined) await exited(current, 'SIGTERM');
      current = undefined;
    },
  };
}
