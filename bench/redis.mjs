// The redis-server of the shared-store rows (run.mjs, replicas.mjs, profile.mjs): found on PATH
// (or REDIS_SERVER), started on a free port of 127.0.0.1 with nothing persisted, pinned to core 1
// with the load generator so that it never takes the servers' core 0. Where redis-server (or the
// node-redis client the servers use) is missing, the benchmark says so and skips those rows.

import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import path from 'node:path';
import { adopt, forget } from './harness.mjs';

/** The variants that need Redis, and the one they are compared with in the shared-store row. */
export const SHARED_STORE_VARIANTS = new Set(['introspection-redis', 'introspection-call']);

/** The redis-server binary (`REDIS_SERVER`, else the first on PATH), or why the rows are skipped. */
export async function detectRedis() {
  const configured = process.env.REDIS_SERVER;
  const candidates = configured
    ? [configured]
    : [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'].map(
        (dir) => path.join(dir, 'redis-server'),
      );
  const binary = candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (binary === undefined) {
    return {
      available: false,
      reason: configured
        ? `REDIS_SERVER=${configured} is not an executable`
        : 'redis-server not found on PATH (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis; or set REDIS_SERVER)',
    };
  }
  try {
    await import('redis');
  } catch {
    return { available: false, reason: 'the node-redis client (`redis`) is not installed: run npm ci' };
  }
  return { available: true, binary };
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Send one command (RESP array of bulk strings) and resolve with the first reply line. */
function command(port, args, timeoutMs = 5000) {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis-server: no reply to ${args[0]} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.end();
      const line = reply.slice(0, end);
      if (line.startsWith('-')) reject(new Error(`redis-server: ${args[0]} failed: ${line.slice(1)}`));
      else resolve(line);
    });
    socket.write(payload);
  });
}

/**
 * Start redis-server (`binary` from detectRedis) on a free port, pinned to `core` when `pinned`.
 * Resolves to `{ url, pid, flush(), cpuMs(), stop() }`; `cpuMs()` is its CPU time so far (from
 * /proc, Linux; `undefined` elsewhere), so that run.mjs can tell its work from other processes'.
 */
export async function startRedis({ binary, core, pinned, niceness }) {
  const port = await freePort();
  let argv = [binary, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  if (niceness !== undefined) argv = ['nice', '-n', String(niceness), ...argv];
  if (pinned) argv = ['taskset', '-c', String(core), ...argv];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  adopt(child);
  await new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start within 10 s:\n${output}`)),
      10_000,
    );
    const onData = (chunk) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.resume(); // keep draining its log, so it never blocks on a full pipe
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (code ${code}):\n${output}`));
    });
  });
  child.once('exit', (code, signal) => {
    if (!child.stopping) {
      console.error(
        `\nFATAL: redis-server (pid ${child.pid}) exited unexpectedly (code ${code}, signal ${signal}).`,
      );
      process.exit(1);
    }
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    /** Empty it (between rounds: fresh server processes meet an empty shared cache). */
    flush: async () => {
      await command(port, ['FLUSHALL']);
    },
    cpuMs: () => processCpuMs(child.pid),
    stop: () => {
      child.stopping = true;
      forget(child);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** User + system CPU time of process `pid` so far, in ms (/proc/<pid>/stat; `undefined` elsewhere). */
export function processCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses, which may hold spaces): utime and stime are
    // the 14th and 15th fields of the line, in clock ticks (USER_HZ = 100 on Linux).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
