// Process plumbing shared by run.mjs and profile.mjs: start pinned child processes, talk to them
// over IPC, and make sure none outlives the benchmark.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Server variants and workloads, in their default order. */
export const VARIANTS = [
  'bare',
  'bare-2',
  'bearer-guard',
  'dpop',
  'otel',
  'otel-idle',
  'jose-floor',
  'crypto-floor',
  'peer',
  'introspection',
  'introspection-redis',
  'introspection-call',
];
/** Variants that serve the route with no authentication at all (they ignore the token). */
export const UNAUTHENTICATED = new Set(['bare', 'bare-2']);
export const WORKLOADS = ['repeated', 'rotation', 'cold'];

/**
 * Workloads a variant does not run, and why. The introspection variant skips the cold path: a
 * token it has never seen is always a call to the introspection endpoint, a network round trip,
 * which is not what its target (cached opaque tokens) is about. `bare-2`, a second bare Express
 * server that exists only to show the noise floor (the same code measured twice: how far from 1.00
 * its ratio to `bare` strays), runs every workload: a control must live exactly as what it is
 * compared with (with fewer runs behind it, it measured 0.78 x `bare` in a concurrent pair).
 * @type {Partial<Record<string, Partial<Record<string, string>>>>}
 */
export const SKIPPED = {
  introspection: { cold: 'a never-seen opaque token is always a network call to the introspection endpoint' },
  // The platform's floor for a never-seen token: what the cold path is compared with, nothing else.
  'crypto-floor': {
    repeated: 'the floor of the cold path only',
    rotation: 'the floor of the cold path only',
  },
  // The telemetry target is about the repeated-token path (issue: metrics subscriber >= 0.95 x).
  otel: { rotation: 'its target is the repeated-token path', cold: 'its target is the repeated-token path' },
  'otel-idle': {
    rotation: 'its target is the repeated-token path',
    cold: 'its target is the repeated-token path',
  },
  // One DPoP-bound token with a fresh proof on every request: the proof is the per-request work.
  dpop: {
    rotation: 'its target is one token with a fresh proof per request',
    cold: 'its target is one token with a fresh proof per request',
  },
  // The shared-store row compares one Redis hit with one introspection call, per request. On the
  // repeated token neither would be that: concurrent requests for one token share one Redis GET
  // (the store coalesces misses of a key) and one call (the introspector coalesces calls in
  // flight), so 50 connections would measure a fraction of either. On the rotation (2,000 tokens,
  // at most 50 in flight) every request is its own GET, or its own call.
  'introspection-redis': {
    repeated:
      'concurrent requests for one token share one Redis GET: its row is the rotation, a GET per request',
    cold: 'a never-seen opaque token is always a network call to the introspection endpoint',
  },
  'introspection-call': {
    repeated:
      'concurrent requests for one token share one introspection call: its row is the rotation, a call per request',
    cold: 'with the cache off, every token is a call: the rotation measures the same path',
  },
};

/** Why `variant` does not run `workload`, or `undefined` when it does. */
export const skipReason = (variant, workload) => SKIPPED[variant]?.[workload];

/**
 * Whether `taskset` can pin processes to cores 0 and 1. Without it (or with fewer than two usable
 * cores) the benchmark still runs, unpinned, and says so.
 * @returns {{ pinned: boolean, reason?: string }}
 */
export function detectPinning() {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (cores < 2) return { pinned: false, reason: `only ${cores} core(s) available` };
  const probe = spawnSync('taskset', ['-c', '1', process.execPath, '-e', ''], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    return {
      pinned: false,
      reason: probe.error
        ? `taskset not usable (${probe.error.code ?? probe.error.message})`
        : `taskset -c 1 exited with ${probe.status}`,
    };
  }
  return { pinned: true };
}

/**
 * The niceness asked for in BENCH_NICE (e.g. -10: servers and load generator get the CPU before
 * other work on a shared machine), if `nice` may apply it here; otherwise undefined with a reason.
 * Off by default: it slows down whatever else runs on the machine.
 */
export function detectNiceness() {
  const raw = process.env.BENCH_NICE;
  if (raw === undefined || raw === '') return { niceness: undefined };
  const niceness = Number(raw);
  if (!Number.isInteger(niceness) || niceness < -20 || niceness > 19)
    throw new Error(`BENCH_NICE must be an integer from -20 to 19, got ${raw}`);
  const probe = spawnSync(
    'nice',
    [
      '-n',
      String(niceness),
      process.execPath,
      '-e',
      'process.exit(require("os").getPriority() === ' + niceness + ' ? 0 : 3)',
    ],
    { stdio: 'ignore' },
  );
  if (probe.error || probe.status !== 0)
    return { niceness: undefined, reason: `nice -n ${niceness} is not permitted here` };
  if (AUTOGROUP && spawnSync('setsid', ['true'], { stdio: 'ignore' }).status !== 0) {
    return { niceness: undefined, reason: 'autogroup scheduling is on and setsid is not available' };
  }
  return { niceness, autogroup: AUTOGROUP };
}

/** Whether the kernel groups scheduling by session (then plain nice does not rank us above others). */
const AUTOGROUP = (() => {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
})();

/** Every child started here, killed on exit. */
const children = new Set();

/** Kill every child still running (by its own pid; never by name). */
export function killChildren(signal = 'SIGTERM') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

/**
 * Kill the children on every way out: normal exit, an uncaught error, SIGINT/SIGTERM. Children
 * also exit on their own when the IPC channel closes (see `process.on('disconnect')` there).
 * @param {() => void} [extra] more cleanup (temporary files)
 */
export function installCleanup(extra) {
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    killChildren();
    try {
      extra?.();
    } catch {
      // best effort
    }
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the benchmark and its child processes.`);
      cleanup();
      process.exit(130);
    });
  }
  return cleanup;
}

/** Stop a child started by {@link startChild} on purpose (not a crash); resolves once it exited. */
export function stopChild(child) {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

/**
 * Start `node <script> …args` with an IPC channel, pinned to `core` through taskset when
 * `pinned` (taskset execs node, so the channel's file descriptor and env pass through).
 * Resolves once the child sent `{ type: 'ready' }`, with that message.
 */
export function startChild({
  script,
  args = [],
  core,
  pinned,
  niceness,
  env = {},
  nodeArgs = [],
  name,
  timeoutMs = 30_000,
}) {
  let node = [process.execPath, ...nodeArgs, script, ...args];
  // With autogroup scheduling, nice only ranks processes inside one session: give the child a
  // session (so an autogroup) of its own, whose niceness is set once it is up (see below).
  if (niceness !== undefined)
    node = [...(AUTOGROUP ? ['setsid'] : []), 'nice', '-n', String(niceness), ...node];
  const [command, ...argv] = pinned ? ['taskset', '-c', String(core), ...node] : node;
  const child = spawn(command, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.benchName = name;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    };
    child.once('exit', onExit);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('message', function onReady(message) {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', onReady);
      child.off('exit', onExit);
      if (niceness !== undefined && AUTOGROUP) {
        try {
          writeFileSync(`/proc/${child.pid}/autogroup`, String(niceness));
        } catch (error) {
          console.warn(`  WARNING: could not set the autogroup niceness of ${name}: ${error.message}`);
        }
      }
      // From now on an unexpected exit is fatal for the benchmark.
      child.once('exit', (code, signal) => {
        if (children.has(child)) {
          console.error(
            `\nFATAL: ${name} (pid ${child.pid}) exited unexpectedly (code ${code}, signal ${signal}).`,
          );
          process.exitCode = 1;
          process.exit(1);
        }
      });
      resolve({ child, ...message });
    });
  });
}

/** Kill `child` (a process not started by startChild, e.g. redis-server) with the others on exit. */
export function adopt(child) {
  children.add(child);
}

/** Let a child go without treating its exit as a crash (used when stopping it on purpose). */
export function forget(child) {
  children.delete(child);
}

let nextId = 1;

/**
 * Send `message` to a child and resolve with its reply of type `replyType` (matched on `id` when
 * the reply carries one). A `{ type: 'failed' }` reply rejects.
 */
export function request(child, message, replyType, timeoutMs = 120_000) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${child.benchName}: no '${replyType}' reply after ${timeoutMs} ms`));
    }, timeoutMs);
    function onMessage(reply) {
      if (reply?.id !== undefined && reply.id !== id) return;
      if (reply?.type === 'failed') {
        clearTimeout(timer);
        child.off('message', onMessage);
        reject(new Error(`${child.benchName}: ${reply.error}`));
      } else if (reply?.type === replyType) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(reply);
      }
    }
    child.on('message', onMessage);
    child.send({ ...message, id });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Positive integer from the environment, or the default. */
export function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

/**
 * Busy and total time of each CPU so far, in ms, from /proc/stat (Linux; `undefined` elsewhere).
 * Used to see how much of a core something other than the benchmark took during a run: the
 * machine may be shared (tests, builds), and a disturbed run is repeated.
 * @returns {{ busy: number, total: number }[] | undefined}
 */
export function readCpuTimes() {
  let text;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const cpus = [];
  for (const row of text.split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(row);
    if (!match) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = match[2].trim().split(/\s+/).map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    cpus[Number(match[1])] = { busy: busy * tick, total: (busy + idle + iowait) * tick };
  }
  return cpus;
}

/** Share (0–1) of each CPU that was busy between two readCpuTimes() samples. */
export function busyShare(before, after) {
  if (!before || !after) return undefined;
  return after.map((cpu, i) => {
    const total = cpu.total - before[i].total;
    return total > 0 ? (cpu.busy - before[i].busy) / total : 0;
  });
}

/**
 * Wait until cores 0 and 1 are nearly idle (nothing else running: our servers and loader are idle
 * between runs), sampling every `sampleMs`; give up after `maxWaitMs`. Resolves to the ms waited
 * and whether the machine was quiet.
 */
export async function waitForQuiet({ maxWaitMs, sampleMs = 300, threshold = 0.1 }) {
  const started = performance.now();
  for (;;) {
    const before = readCpuTimes();
    await sleep(sampleMs);
    const share = busyShare(before, readCpuTimes());
    if (!share) return { waitedMs: 0, quiet: true };
    const quiet = share[0] <= threshold && (share[1] ?? 0) <= threshold;
    const waitedMs = performance.now() - started;
    if (quiet || waitedMs >= maxWaitMs) return { waitedMs, quiet };
  }
}
