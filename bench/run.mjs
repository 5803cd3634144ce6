// bearer-guard throughput benchmark: `npm run bench` (= `tsc -b && node bench/run.mjs`).
//
// Server variants serve the same `GET /hello` route (see server.mjs): bare Express 5, bearer-
// guard, a "jose floor" (jose.jwtVerify on every request, nothing else), the closest peer,
// express-oauth2-jwt-bearer, and bearer-guard validating every token by RFC 7662 introspection
// (against a stub endpoint in its own process; the answers cached), and bearer-guard with DPoP on,
// one DPoP-bound token with a fresh proof on every request (dpop.mjs; its proofs are minted here
// right before each run that needs them, like the cold-path tokens), and the shared-store row:
// bearer-guard on a Redis hit (introspection-redis) against the introspection call it replaces
// (introspection-call), both on the rotation, their remote ends (redis-server, the stub endpoint)
// in processes of their own on core 1. After the rounds, replicas.mjs counts the introspection
// calls for one token across 1, 2 and 4 replicas sharing Redis: 1 each, or the run fails. Without
// redis-server those rows are skipped, with the reason. Each server runs in its own
// process pinned to core 0; the load generator (autocannon, loader.mjs) runs in one process pinned
// to core 1; this orchestrator only coordinates (it mints tokens while nothing is measured,
// otherwise it sleeps).
//
// Three workloads of valid ES256 tokens (tokens.mjs): one repeated token, 2 000 tokens in rotation,
// and tokens never presented twice to the same server (the cold path). The introspection variant
// skips the cold path (harness.mjs, SKIPPED): a never-seen token is always a network call there.
// Its stub endpoint counts the calls it gets: with the cache on for the whole run, there must be
// exactly one per distinct token (sanity-check tokens included), or the benchmark fails (exit 1).
//
// Procedure: BENCH_ROUNDS rounds. Each round starts fresh server processes, checks them (each auth
// variant really answers 200 / 401 / 403), warms every variant up on every workload it runs (on the
// rotation, until every rotation token reached the server twice), then runs every variant ×
// workload once for BENCH_DURATION seconds, the runs of one workload back to back in a random
// order, each right after BENCH_REWARM seconds of unmeasured load (see rewarm()). Then, still in
// the round, the two servers of every target (and bare Express against itself, the noise floor)
// run at the same time, as concurrent pairs (PAIRS below). Reported per cell: median req/s and
// median p99 latency over the rounds, the ratio of the medians, and the median of the per-round
// ratios. The targets are judged on the concurrent pairs: identical code measured 0.99 x itself
// there (per round 0.98-1.01) once every run was re-warmed and each pair's histories levelled
// (topUpFor()), and 1.02 sequentially.
//
// Any run with more than 0.1 % non-2xx responses (or connection errors/timeouts) means a broken
// benchmark: it stops at once with exit code 1. So does an introspection call count that is not
// one per distinct token (checked at the end).
//
// Environment:
//   BENCH_DURATION     seconds per measured run (default 2)
//   BENCH_ROUNDS       rounds, each with fresh server processes (default 6)
//   BENCH_WARMUP       seconds of warm-up per variant × workload and round (default 1.5)
//   BENCH_REWARM       seconds of unmeasured load right before every measured run and pair (default 1)
//   BENCH_TOP_UP_MAX   at most this many seconds of load that bring the side of a pair with less CPU
//                      time behind it level with the other, before the pair (default 20; 0: off)
//   BENCH_CONNECTIONS  concurrent connections (default 50); pipelining is always 1
//   BENCH_COLD_TOKENS  size of the cold-path pool (default: sized from the measured bare rate)
//   BENCH_ENFORCE=1    exit with code 2 when a target is missed (default: report only)
//   BENCH_RETRIES      re-runs of a measured run disturbed by other processes (default 2)
//   BENCH_NICE         e.g. -10: run servers and load generator at that niceness, ahead of other work
//                      on a shared machine (needs the privilege; off by default, it slows others)
//   BENCH_WAIT_BUDGET  total seconds spent waiting for an idle machine and repeating disturbed
//                      runs (default 120), which bounds the run time on a busy machine
//   BENCH_VARIANTS     comma-separated variants to run (default all; bare, bare-2, bearer-guard,
//                      peer and introspection always run: the summary's checks rest on them)
//   REDIS_SERVER       the redis-server binary of the shared-store rows (default: the one on PATH)
//
// The machine may be shared (test suites, builds). Before every measured run the benchmark waits
// (up to 15 s at a time) until cores 0 and 1 are idle, and after it compares each core's busy time
// (/proc/stat) with the CPU time of our own server and load generator: a run where something else
// took more than 10 % of the server's core, or of the load generator's core while that core was
// saturated, is repeated (BENCH_RETRIES times at most, the least disturbed attempt is kept). Both come out of BENCH_WAIT_BUDGET; once it is spent, runs are measured as they
// come and disturbed ones are flagged in the output and the JSON.
//
// Results: printed, and written to bench/results/latest.json.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BENCH_DIR,
  busyShare,
  detectNiceness,
  detectPinning,
  envNumber,
  installCleanup,
  readCpuTimes,
  request,
  skipReason,
  SKIPPED,
  sleep,
  startChild,
  stopChild,
  UNAUTHENTICATED,
  VARIANTS,
  waitForQuiet,
  WORKLOADS,
} from './harness.mjs';
import { createDpopKey, mintProofs } from './dpop.mjs';
import { detectRedis, processCpuMs, SHARED_STORE_VARIANTS, startRedis } from './redis.mjs';
import { measureReplicas } from './replicas.mjs';
import { createSigningKey, mintMany, mintToken } from './tokens.mjs';

const config = {
  durationS: envNumber('BENCH_DURATION', 2),
  rounds: Math.round(envNumber('BENCH_ROUNDS', 6)),
  warmupS: envNumber('BENCH_WARMUP', 1.5),
  rewarmS: envNumber('BENCH_REWARM', 1),
  topUpMaxS: envNumber('BENCH_TOP_UP_MAX', 20),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  pipelining: 1,
  rotationSize: 2_000,
  coldTokens: process.env.BENCH_COLD_TOKENS ? Math.round(envNumber('BENCH_COLD_TOKENS', 0)) : undefined,
  maxBadFraction: 0.001,
  enforce: process.env.BENCH_ENFORCE === '1',
  retries: Math.round(envNumber('BENCH_RETRIES', 2)),
  waitBudgetS: envNumber('BENCH_WAIT_BUDGET', 120),
  maxForeignPct: 10,
};

/** Targets from the issue: ratios of throughput measured in this run (see PAIRS). */
const TARGETS = [
  {
    id: 'repeated-vs-bare',
    label: 'repeated token: bearer-guard >= 0.85 x bare Express',
    workload: 'repeated',
    of: 'bearer-guard',
    over: 'bare',
    min: 0.85,
  },
  {
    id: 'rotation-vs-bare',
    label: '2,000 in rotation: bearer-guard >= 0.80 x bare Express',
    workload: 'rotation',
    of: 'bearer-guard',
    over: 'bare',
    min: 0.8,
  },
  {
    // Restated (the foundation issue's ">= 2 x the peer" was out of reach of any middleware here:
    // bare Express itself measured 1.74-2.17 x the peer): >= 1.6 x the peer, and >= 2 x the jose floor.
    id: 'rotation-vs-peer',
    label: '2,000 in rotation: bearer-guard >= 1.6 x express-oauth2-jwt-bearer',
    workload: 'rotation',
    of: 'bearer-guard',
    over: 'peer',
    min: 1.6,
  },
  {
    id: 'rotation-vs-floor',
    label: '2,000 in rotation: bearer-guard >= 2 x jose floor',
    workload: 'rotation',
    of: 'bearer-guard',
    over: 'jose-floor',
    min: 2,
  },
  {
    id: 'cold-vs-floor',
    label: 'cold path: bearer-guard >= 1.05 x jose floor',
    workload: 'cold',
    of: 'bearer-guard',
    over: 'jose-floor',
    min: 1.05,
  },
  {
    id: 'cold-vs-peer',
    label: 'cold path: bearer-guard >= 1.2 x express-oauth2-jwt-bearer',
    workload: 'cold',
    of: 'bearer-guard',
    over: 'peer',
    min: 1.2,
  },
  {
    // One signature check per request is the least DPoP can cost (the proof's; the token comes
    // from the cache), as it is the jose floor's work (the token's): near parity is the target.
    id: 'dpop-vs-floor',
    label: 'DPoP, one token with a fresh proof per request: bearer-guard >= 0.90 x jose floor',
    workload: 'repeated',
    of: 'dpop',
    over: 'jose-floor',
    min: 0.9,
  },
  {
    id: 'otel-vs-bearer-guard',
    label: 'repeated token: with the OpenTelemetry metrics subscriber >= 0.95 x bearer-guard',
    workload: 'repeated',
    of: 'otel',
    over: 'bearer-guard',
    min: 0.95,
  },
  {
    id: 'otel-idle-vs-bearer-guard',
    label: 'repeated token: @bearer-guard/otel loaded, not enabled (no subscriber) >= 0.99 x bearer-guard',
    workload: 'repeated',
    of: 'otel-idle',
    over: 'bearer-guard',
    min: 0.99,
  },
  {
    id: 'introspection-vs-jwt',
    label: 'cached opaque (introspection) >= 0.90 x bearer-guard JWT, same token',
    workload: 'repeated',
    of: 'introspection',
    over: 'bearer-guard',
    min: 0.9,
  },
  {
    // The shared store's reason to exist: for a token new to this replica, a Redis hit (GET, HMAC
    // check, parse; `localTtl: 0` keeps every request on that path) must cost the replica less than
    // the introspection call it replaces, so >= 1.0. Both remote ends (redis-server, the stub
    // endpoint) run in processes of their own on core 1, so neither side is charged their work:
    // the figure is what each costs the replica itself. The rotation, not the repeated token: on one
    // token concurrent requests share one GET and one call (harness.mjs, SKIPPED).
    id: 'redis-hit-vs-call',
    label: 'shared store: a Redis hit (introspection-redis) >= 1.0 x the introspection call it replaces',
    workload: 'rotation',
    of: 'introspection-redis',
    over: 'introspection-call',
    min: 1,
  },
];

/**
 * Concurrent pairs: the two servers of a target run at the same time, both on core 0, each loaded
 * with half the connections. A shared host that speeds up or slows down then moves both alike, which
 * the sequential runs (seconds apart) cannot promise: there, bare Express measured twice strays
 * 10-30 % from itself per round. The figure is requests per second of the server's own CPU time
 * (all its threads: JIT, GC, libuv's pool doing WebCrypto), so a process that got a larger share of
 * the core is not favoured. The noise floor pair runs identical code.
 */
const NOISE_PAIR = {
  id: 'noise-floor',
  label: 'noise floor: bare-2 / bare (the same code twice)',
  workload: 'repeated',
  of: 'bare-2',
  over: 'bare',
};
// PAIRS and the targets judged: those whose variants run here (see `variants` below).

const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'bearer-guard-bench-'));
installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const fmtRatio = (n) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
/** Per-round values with their median (NaN when there are none), minimum and maximum. */
const spread = (perRound) => ({
  median: perRound.length > 0 ? median(perRound) : Number.NaN,
  min: Math.min(...perRound),
  max: Math.max(...perRound),
  perRound,
});
const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);
/** Whether `variant` runs `workload` (see SKIPPED in harness.mjs). */
const runsWorkload = (variant, workload) => skipReason(variant, workload) === undefined;

class BrokenBenchmark extends Error {}

// --- 1. machine, pinning ---------------------------------------------------------------------
const pinning = detectPinning();
const priority = detectNiceness();
const raisedPriority = (priority.niceness ?? 0) < 0;
// Which code was measured: the packages change often, so the commit and whether packages/ had
// uncommitted edits go into the JSON (the dist built by `npm run bench` is what runs).
const git = (...args) => {
  const out = spawnSync('git', args, { cwd: path.join(BENCH_DIR, '..'), encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : undefined;
};
const code = {
  commit: git('rev-parse', '--short', 'HEAD'),
  uncommittedPackageFiles: git('status', '--porcelain', '--', 'packages')?.split('\n').filter(Boolean).length,
};
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
console.log(`bearer-guard benchmark — ${machine.cpus} CPU(s) (${machine.cpuModel}), Node ${machine.node}`);
if (code.commit) {
  console.log(
    `  code: commit ${code.commit}` +
      (code.uncommittedPackageFiles
        ? ` + ${code.uncommittedPackageFiles} uncommitted file(s) in packages/`
        : ''),
  );
}
console.log(
  `  ${config.rounds} round(s) x ${config.durationS} s per run, warm-up ${config.warmupS} s, ` +
    `${config.connections} connections, pipelining ${config.pipelining}`,
);
if (priority.niceness !== undefined)
  console.log(`  servers and load generator run at niceness ${priority.niceness} (BENCH_NICE)`);
if (priority.reason) console.warn(`  WARNING: BENCH_NICE ignored: ${priority.reason}`);
if (pinning.pinned) {
  console.log('  servers pinned to core 0 and the load generator to core 1 (taskset)');
} else {
  console.warn(
    `  WARNING: running UNPINNED (${pinning.reason}); servers and load generator share cores, numbers are noisier.`,
  );
}

// BENCH_VARIANTS narrows the run (to look into a few variants quickly). The variants the summary's
// checks and the noise floor rest on always run; the shared-store rows run when named.
const only = process.env.BENCH_VARIANTS
  ? new Set(['bare', 'bare-2', 'bearer-guard', 'peer', 'introspection'])
  : undefined;
for (const v of process.env.BENCH_VARIANTS?.split(',')
  .map((name) => name.trim())
  .filter(Boolean) ?? []) {
  if (!VARIANTS.includes(v)) {
    console.error(`BENCH_VARIANTS: unknown variant ${JSON.stringify(v)} (known: ${VARIANTS.join(', ')})`);
    process.exit(1);
  }
  only.add(v);
}
// The shared-store rows need a redis-server (and the node-redis client): without it they are
// skipped, loudly, and the rest of the benchmark runs as before.
const sharedStore =
  only && !only.has('introspection-redis')
    ? { available: false, reason: 'introspection-redis is not in BENCH_VARIANTS' }
    : await detectRedis();
if (!sharedStore.available)
  console.warn(
    `  WARNING: the shared-store rows are skipped (introspection-redis, introspection-call, replicas): ${sharedStore.reason}`,
  );
/** The variants this run measures. */
const variants = VARIANTS.filter(
  (v) => (sharedStore.available || !SHARED_STORE_VARIANTS.has(v)) && (only === undefined || only.has(v)),
);
const targets = TARGETS.filter((t) => variants.includes(t.of) && variants.includes(t.over));
/**
 * Pairs measured for scale, not judged: how far the cold path's targets are from what the
 * platform allows at all (crypto-floor: node:crypto's verify and the claims a route needs, nothing
 * else), each side measured as the targets are.
 */
const SCALE_PAIRS = [
  {
    id: 'cold-crypto-floor-vs-peer',
    label: 'cold path: node:crypto floor / express-oauth2-jwt-bearer (the ceiling of a "x the peer" target)',
    workload: 'cold',
    of: 'crypto-floor',
    over: 'peer',
  },
  {
    id: 'cold-vs-crypto-floor',
    label: 'cold path: bearer-guard / node:crypto floor (what the library costs around the check)',
    workload: 'cold',
    of: 'bearer-guard',
    over: 'crypto-floor',
  },
].filter((t) => variants.includes(t.of) && variants.includes(t.over));
const PAIRS = [NOISE_PAIR, ...targets, ...SCALE_PAIRS];

// --- 2. keys and the small token sets ---------------------------------------------------------
const { privateKey, jwks } = await createSigningKey();
const repeatedToken = await mintToken(privateKey, { jti: 'repeated' });
const rotationTokens = await mintMany(privateKey, config.rotationSize, 'rotation');
// The `dpop` variant's client: its proof key and one DPoP-bound token (`cnf.jkt`, RFC 9449 §6.1).
const dpopKey = createDpopKey();
const dpopToken = await mintToken(privateKey, { jti: 'dpop', claims: { cnf: { jkt: dpopKey.jkt } } });
const sanity = {
  valid: await mintToken(privateKey, { jti: 'sanity-valid' }),
  noScope: await mintToken(privateKey, { jti: 'sanity-no-scope', scope: 'write' }),
  // Signed by another key under the same kid: a signature that must not verify.
  wrongKey: await mintToken((await createSigningKey()).privateKey, { jti: 'sanity-wrong-key' }),
};

// --- 3. servers (core 0) and the sanity checks -------------------------------------------------
// The remote ends of the shared-store row, each in a process of its own on core 1 (with the load
// generator, never on the servers' core): redis-server, and the stub introspection endpoint that
// `introspection-call` calls on every request.
let redis;
let endpoint;
if (sharedStore.available) {
  redis = await startRedis({
    binary: sharedStore.binary,
    core: 1,
    pinned: pinning.pinned,
    niceness: priority.niceness,
  });
  endpoint = await startChild({
    script: path.join(BENCH_DIR, 'endpoint.mjs'),
    core: 1,
    pinned: pinning.pinned,
    niceness: priority.niceness,
    env: { BENCH_JWKS: JSON.stringify(jwks) },
    name: 'introspection endpoint',
  });
  console.log(
    `  redis-server (${sharedStore.binary}) and the introspection-call endpoint run pinned to core 1, with the load generator`,
  );
}
const endpointStats = () => request(endpoint.child, { type: 'stats' }, 'stats');
/** CPU time so far (ms) of the remote end of `variant` (redis-server, the endpoint), 0 for none. */
const remoteCpuMs = (variant) =>
  (variant === 'introspection-redis'
    ? redis?.cpuMs()
    : variant === 'introspection-call'
      ? endpoint && processCpuMs(endpoint.child.pid)
      : 0) ?? 0;
const remotesCpuMs = () => remoteCpuMs('introspection-redis') + remoteCpuMs('introspection-call');

const servers = {};
/** What retired server processes counted (JWKS fetches, introspection calls), summed per variant. */
const retired = {};

/** Start a fresh server process for every variant (stopping the previous ones first). */
async function startServers() {
  await stopServers();
  // Every round's fresh processes meet an empty shared cache: `introspection-redis` is then
  // introspected once per distinct token per round, as the in-memory variant per process.
  await redis?.flush();
  // In a new order every round: no variant is always the first process started.
  for (const variant of shuffle(variants)) {
    const { child, port } = await startChild({
      script: path.join(BENCH_DIR, 'server.mjs'),
      args: [variant],
      // A server sits idle for minutes while the others are measured. V8's memory reducer then
      // collects and shrinks its heap, and its first second back under load runs up to 40 % slower
      // (see rewarm()). Under steady load, the state every target is about, the reducer never
      // acts: switching it off changes nothing there, and only keeps idle spells out of the figures.
      nodeArgs: ['--no-memory-reducer'],
      core: 0,
      pinned: pinning.pinned,
      niceness: priority.niceness,
      env: {
        BENCH_JWKS: JSON.stringify(jwks),
        NODE_ENV: 'production',
        ...(redis ? { BENCH_REDIS_URL: redis.url, BENCH_INTROSPECTION_ENDPOINT: endpoint.url } : {}),
      },
      name: `server ${variant}`,
    });
    servers[variant] = { child, port };
  }
}

/** Stop every server process, keeping its counts. */
async function stopServers() {
  for (const [variant, { child }] of Object.entries(servers)) {
    const stats = await serverStats(variant);
    const sum = (retired[variant] ??= {
      processes: 0,
      jwksFetches: 0,
      bearerRequests: 0,
      redisErrors: { store: 0, client: 0 },
      introspection: { calls: 0, distinctTokens: 0, refused: 0, inactive: 0 },
    });
    sum.processes++;
    sum.jwksFetches += stats.jwksFetches;
    sum.bearerRequests += stats.bearerRequests;
    sum.redisErrors.store += stats.redisErrors.store;
    sum.redisErrors.client += stats.redisErrors.client;
    for (const key of Object.keys(sum.introspection)) sum.introspection[key] += stats.introspection[key];
    await stopChild(child);
    Reflect.deleteProperty(servers, variant);
  }
}
await startServers();

/** Each variant must answer as configured, or the numbers would mean nothing. */
async function sanityCheck(variant, port) {
  const call = async (token) => {
    const response = await fetch(`http://127.0.0.1:${port}/hello`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: await response.text() };
  };
  const expectations = [['valid token', sanity.valid, 200]];
  if (!UNAUTHENTICATED.has(variant)) {
    expectations.push(
      ['no token', undefined, 401],
      ['token without the read scope', sanity.noScope, 403],
      ['bad signature', sanity.wrongKey, 401],
    );
  }
  for (const [what, token, expected] of expectations) {
    const { status, body } = await call(token);
    if (status !== expected || (expected === 200 && body !== '{"ok":true}')) {
      throw new BrokenBenchmark(
        `${variant}: ${what} answered ${status} ${body.slice(0, 200)} (expected ${expected})`,
      );
    }
  }
  if (variant === 'dpop') {
    // The DPoP path itself: a fresh proof passes, the same proof again is a replay (401).
    const [proof] = mintProofs(dpopKey, dpopToken, 1, `sanity-${String(sanityProofs++)}`);
    const headers = { authorization: `DPoP ${dpopToken}`, dpop: proof };
    for (const [what, expected] of [
      ['a fresh DPoP proof', 200],
      ['the same proof again', 401],
    ]) {
      const response = await fetch(`http://127.0.0.1:${port}/hello`, { headers });
      if (response.status !== expected) {
        throw new BrokenBenchmark(`${variant}: ${what} answered ${response.status} (expected ${expected})`);
      }
    }
  }
}
let sanityProofs = 0;
/** Sanity-check every (fresh) server; a failure ends the benchmark. */
async function checkServers() {
  try {
    for (const variant of variants) await sanityCheck(variant, servers[variant].port);
  } catch (error) {
    console.error(`\nFAILED sanity check: ${error.message}`);
    process.exit(1);
  }
}
await checkServers();
console.log(
  '  sanity checks passed: every auth variant answers 200 / 401 (no token, bad signature) / 403 (no read scope)',
);

// --- 4. load generator (core 1) ---------------------------------------------------------------
const { child: loader } = await startChild({
  script: path.join(BENCH_DIR, 'loader.mjs'),
  core: 1,
  pinned: pinning.pinned,
  niceness: priority.niceness,
  name: 'load generator',
});
await request(loader, { type: 'tokens', repeated: repeatedToken, rotation: rotationTokens }, 'tokens-loaded');

const serverStats = (variant) => request(servers[variant].child, { type: 'stats' }, 'stats');

/** Runs set aside because another process disturbed them (kept in the JSON). */
const discarded = [];
let waitBudgetMs = config.waitBudgetS * 1000;

/**
 * One measured run, repeated when another process took a noticeable share of core 0 (server) or
 * core 1 (load generator) during it. Warm-ups are not repeated.
 */
async function measure(variant, workload, durationS, phase, coldSecondsLeft = durationS) {
  const attempts = [];
  for (let attempt = 1; ; attempt++) {
    // Fresh tokens for this attempt and the cold runs still to come (minted now, never mid-run).
    const rewarmS = phase === 'measure' ? config.rewarmS : 0;
    if (workload === 'cold') await ensureColdTokens(variant, coldSecondsLeft + rewarmS);
    if (variant === 'dpop') await loadProofs(durationS + rewarmS);
    let waitedMs = 0;
    // At a raised priority (BENCH_NICE < 0) other work yields to ours: no need to wait for it.
    if (phase === 'measure' && waitBudgetMs > 0 && !raisedPriority) {
      const gate = await waitForQuiet({ maxWaitMs: Math.min(15_000, waitBudgetMs) });
      waitBudgetMs -= Math.max(0, gate.waitedMs - 300); // the first (quiet) sample is free
      waitedMs = gate.waitedMs;
      if (waitBudgetMs <= 0)
        console.warn('  WARNING: the wait budget for an idle machine is spent; measuring regardless.');
    }
    await rewarm([variant], workload, config.connections, rewarmS);
    const result = await measureOnce(variant, workload, durationS, phase);
    result.attempt = attempt;
    result.waitedForQuietMs = Math.round(waitedMs);
    attempts.push(result);
    // The server core must be ours alone. The load generator needs only part of its core, so other
    // work there matters only when that core was saturated (the generator then had to wait for it)
    // and we did not run ahead of that work (BENCH_NICE < 0).
    const disturbed =
      result.foreignCpuPct.server > config.maxForeignPct ||
      (!raisedPriority &&
        result.coreBusyPct.loader > 95 &&
        result.foreignCpuPct.loader > config.maxForeignPct);
    result.disturbed = disturbed;
    if (!disturbed || phase !== 'measure' || attempt > config.retries || waitBudgetMs < durationS * 1000)
      break;
    waitBudgetMs -= durationS * 1000; // a repeated run is paid from the same budget as waiting
    console.log(`  ${line(result)}  <- disturbed, repeating`);
  }
  // Keep the least disturbed attempt.
  const best = attempts.reduce((a, b) => (worstForeign(b) < worstForeign(a) ? b : a));
  for (const other of attempts) if (other !== best) discarded.push(other);
  return best;
}

const worstForeign = (r) =>
  r.foreignCpuPct.server + (!raisedPriority && r.coreBusyPct.loader > 95 ? r.foreignCpuPct.loader : 0);

/** Ask the load generator for one autocannon run against `variant`; resolves to its result. */
function loadRun(variant, workload, durationS, connections) {
  return request(
    loader,
    { type: 'run', port: servers[variant].port, variant, workload, duration: durationS, connections },
    'result',
    (durationS + 60) * 1000,
  );
}

/**
 * Which side of a pair has had less CPU time so far, and how many seconds of load (alone, at full
 * connections, so about as many CPU-seconds) bring it level with the other, at most
 * BENCH_TOP_UP_MAX. A process keeps getting faster over its first tens of seconds under load (the
 * JIT optimises ever less hot code), and bearer-guard is in most pairs, so it had two to three
 * times the load of the variants it is compared with: otel-idle, its own code per request, read
 * 0.95-0.96 x bearer-guard in the pairs while the noise floor read 1.02. Level histories, fair pairs.
 */
async function topUpFor(sides) {
  if (config.topUpMaxS <= 0) return { seconds: 0 };
  const [a, b] = await Promise.all(sides.map(serverStats));
  const gapS = Math.abs(a.cpuMicros - b.cpuMicros) / 1e6;
  const variant = a.cpuMicros < b.cpuMicros ? sides[0] : sides[1];
  // Under half a second the re-warm's own share of noise is larger than the gap.
  const seconds = gapS < 0.5 ? 0 : Math.min(config.topUpMaxS, Math.round(gapS * 10) / 10);
  return { variant, seconds };
}

/**
 * Unmeasured load on `sides` (at once, as they are about to be measured) for BENCH_REWARM seconds.
 * A server process that sat idle while the others were measured is not the server under steady
 * load the targets are about. After a minute idle, bearer-guard's first half second back under load
 * measured 5,648 requests per CPU-second, then 8,523, and about 9,000 from the second second on:
 * V8's memory reducer had collected and shrunk its heap, the young generation among it. Servers run
 * with --no-memory-reducer (startServers), which leaves about 4 % in that first half second (8,883):
 * caches, branch predictors. Without both, a concurrent pair set a process that had just run
 * against one idle for minutes: bare Express against itself read 0.72 in one round, and
 * bearer-guard, which is in most pairs, won every pair against the same code (otel-idle) by 12-32 %.
 */
async function rewarm(sides, workload, connections, seconds = config.rewarmS, phase = 're-warm') {
  if (seconds <= 0) return;
  const results = await Promise.all(sides.map((variant) => loadRun(variant, workload, seconds, connections)));
  for (const result of results) checkAnswers(result, phase);
}

/** One autocannon run against one variant; checks the answers and adds the server's CPU use. */
async function measureOnce(variant, workload, durationS, phase) {
  const before = await serverStats(variant);
  const remoteBefore = remotesCpuMs();
  const cpuBefore = readCpuTimes();
  const wallBefore = performance.now();
  const result = await loadRun(variant, workload, durationS, config.connections);
  const wallMs = performance.now() - wallBefore;
  const share = busyShare(cpuBefore, readCpuTimes());
  // redis-server and the endpoint share core 1 with the load generator: their work is ours too.
  const remoteMs = remotesCpuMs() - remoteBefore;
  const after = await serverStats(variant);
  result.remoteCpuPct = (remoteMs / wallMs) * 100;
  result.phase = phase;
  const serverCpuMs = (after.cpuMicros - before.cpuMicros) / 1000;
  result.serverCpuPct = (serverCpuMs / (result.durationS * 1000)) * 100;
  result.serverRssMB = after.rssBytes / 2 ** 20;
  // Busy time of each core not explained by our own server (core 0) or load generator (core 1).
  // Kernel network work for our own loopback traffic counts here too, so it is never quite 0.
  result.coreBusyPct = share
    ? { server: share[0] * 100, loader: (share[1] ?? 0) * 100 }
    : { server: 0, loader: 0 };
  result.foreignCpuPct = share
    ? {
        server: Math.max(0, share[0] * 100 - (serverCpuMs / wallMs) * 100),
        loader: Math.max(0, (share[1] ?? 0) * 100 - ((result.loaderCpuMs + remoteMs) / wallMs) * 100),
      }
    : { server: 0, loader: 0 };
  checkAnswers(result, phase);
  return result;
}

/** Every answer must be 2xx and no cold token reused; otherwise the benchmark is broken. */
function checkAnswers(result, phase) {
  const { variant, workload } = result;
  const bad = result.non2xx + result.errors + result.timeouts;
  const total = Math.max(1, result.requestsTotal);
  if (result.requestsTotal === 0 || bad / total > config.maxBadFraction) {
    throw new BrokenBenchmark(
      `${variant} / ${workload} (${phase}): ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts ` +
        `of ${result.requestsTotal} responses; status codes ${JSON.stringify(result.statusCodes)}. A valid token was refused: ` +
        'the benchmark is broken.',
    );
  }
  if (result.cold) coldCursor.set(variant, result.cold.end);
  if (result.dpop?.exhausted) {
    throw new BrokenBenchmark(
      `dpop: the pool of ${result.dpop.pool} fresh proofs ran out, proofs would be reused.`,
    );
  }
  if (result.cold?.exhausted && !UNAUTHENTICATED.has(variant)) {
    throw new BrokenBenchmark(
      `${variant} / cold: the pool of ${result.cold.pool} fresh tokens ran out, tokens would be reused. ` +
        'Set BENCH_COLD_TOKENS higher.',
    );
  }
}

/**
 * One concurrent pair (see PAIRS): both servers loaded at once, half the connections each. Returns
 * each side's req/s and requests per second of its own CPU time, and their ratio (`of` / `over`).
 */
async function measurePair(pair, durationS) {
  const sides = [pair.of, pair.over];
  const topUp = await topUpFor(sides);
  const loadS = durationS + config.rewarmS + topUp.seconds;
  if (pair.workload === 'cold') for (const variant of sides) await ensureColdTokens(variant, loadS);
  if (sides.includes('dpop')) await loadProofs(loadS);
  if (topUp.seconds > 0)
    await rewarm([topUp.variant], pair.workload, config.connections, topUp.seconds, 'top-up');
  const connections = Math.max(1, Math.round(config.connections / 2));
  await rewarm(sides, pair.workload, connections);
  const before = await Promise.all(sides.map(serverStats));
  const remoteBefore = sides.map(remoteCpuMs);
  const cpuBefore = readCpuTimes();
  const wallBefore = performance.now();
  // The load starts on the two sides in a random order: neither side is always first.
  const launched = [];
  for (const i of shuffle([0, 1])) launched[i] = loadRun(sides[i], pair.workload, durationS, connections);
  const results = await Promise.all(launched);
  const wallMs = performance.now() - wallBefore;
  const share = busyShare(cpuBefore, readCpuTimes());
  const after = await Promise.all(sides.map(serverStats));
  const cpuS = sides.map((_, i) => (after[i].cpuMicros - before[i].cpuMicros) / 1e6);
  // The remote end's CPU time of each side (redis-server, the endpoint; 0 for the others): only
  // one side of a pair uses each, so all of it is that side's.
  const remoteCpuS = sides.map((variant, i) => (remoteCpuMs(variant) - remoteBefore[i]) / 1000);
  for (const result of results) checkAnswers(result, 'pair');
  const perCpuSecond = results.map((r, i) => r.requestsTotal / cpuS[i]);
  const serversCpuMs = (cpuS[0] + cpuS[1]) * 1000;
  // Both servers must have kept core 0 busy between them, or the cheaper one idled waiting for
  // requests (fixed wake-up costs then spread over fewer requests): such a pair is flagged.
  const cpuSharePct = cpuS.map((c) => ((c * 1000) / wallMs) * 100);
  return {
    id: pair.id,
    workload: pair.workload,
    of: pair.of,
    over: pair.over,
    toppedUp: topUp.seconds > 0 ? { variant: topUp.variant, seconds: topUp.seconds } : undefined,
    reqPerSec: results.map((r) => r.reqPerSec),
    latencyP99Ms: results.map((r) => r.latencyP99Ms),
    serverCpuS: cpuS,
    perCpuSecond,
    ratio: perCpuSecond[0] / perCpuSecond[1],
    remoteCpuS,
    // Requests per CPU-second of the server and its remote end together.
    perCpuSecondWithRemote: results.map((r, i) => r.requestsTotal / (cpuS[i] + remoteCpuS[i])),
    cpuSharePct,
    unsaturated: cpuSharePct[0] + cpuSharePct[1] < 90 || Math.min(...cpuSharePct) < 35,
    loaderCpuPct: Math.max(...results.map((r) => r.loaderCpuPct)),
    cold: results.map((r) => r.cold),
    requestsSent: results.map((r) => r.requestsSent),
    // Busy time of core 0 not explained by the two servers (kernel loopback work counts here too).
    foreignCpuPct: share ? Math.max(0, share[0] * 100 - (serversCpuMs / wallMs) * 100) : 0,
  };
}

/**
 * Make sure the cold-path pool holds enough fresh tokens for `variant`'s remaining cold runs
 * (`secondsLeft` seconds of cold load, this run included); mint and hand over more when not.
 *
 * Each auth variant walks the pool with its own cursor, so a token never reaches the same server
 * twice. The rate assumed is the fastest rate seen so far in this benchmark, of any variant (bare
 * Express is an upper bound for every auth variant on the same core), plus 30 %. Minting happens
 * only here, between runs, while every server is idle. A pool that still runs out fails the run
 * loudly (see measure()). The bare variant ignores the header and may wrap around.
 */
let coldPool = 0;
/** Where each variant's next fresh token is (mirrors the load generator's cursors). */
const coldCursor = new Map();
const coldMint = { tokens: 0, seconds: 0, batches: 0 };
async function ensureColdTokens(variant, secondsLeft) {
  if (UNAUTHENTICATED.has(variant) && coldPool > 0) return;
  const fastest = Math.max(1000, ...runs.map((r) => r.reqPerSec), ...discarded.map((r) => r.reqPerSec));
  const cursor = coldCursor.get(variant) ?? 0;
  const wanted = cursor + Math.ceil(fastest * 1.3 * secondsLeft);
  const first = coldPool === 0 && config.coldTokens !== undefined;
  const deficit = first ? config.coldTokens : wanted - coldPool;
  if (deficit <= 0) return;
  const count = Math.ceil(deficit / 1000) * 1000;
  const started = performance.now();
  process.stdout.write(
    `  minting ${fmtInt(count)} fresh cold-path tokens (pool ${fmtInt(coldPool)} -> ${fmtInt(coldPool + count)}; ` +
      `${variant} needs up to ${fmtInt(wanted)} at ${fmtInt(fastest * 1.3)} req/s)… `,
  );
  const tokens = await mintMany(privateKey, count, `cold${coldMint.batches}`);
  const file = path.join(tmpDir, `cold-${coldMint.batches}.txt`);
  writeFileSync(file, tokens.join('\n'));
  const loaded = await request(loader, { type: 'cold', file }, 'cold-loaded');
  rmSync(file, { force: true });
  if (loaded.count !== coldPool + count) {
    throw new BrokenBenchmark(
      `the load generator holds ${loaded.count} cold tokens, expected ${coldPool + count}`,
    );
  }
  coldPool += count;
  coldMint.batches++;
  coldMint.tokens += count;
  const seconds = (performance.now() - started) / 1000;
  coldMint.seconds += seconds;
  console.log(`${seconds.toFixed(1)} s`);
}

/**
 * A fresh pool of DPoP proofs for the `dpop` variant's next run of `durationS` seconds: minted now
 * (so `iat` is seconds old, whatever the run's position in the benchmark), each `jti` new, sized
 * like the cold pool from the fastest rate seen so far (+30 %, at least 5 000 req/s).
 */
const proofMint = { proofs: 0, seconds: 0, batches: 0 };
async function loadProofs(durationS) {
  const fastest = Math.max(5000, ...runs.map((r) => r.reqPerSec), ...discarded.map((r) => r.reqPerSec));
  const count = Math.ceil((fastest * 1.3 * durationS) / 1000) * 1000;
  const started = performance.now();
  const proofs = mintProofs(dpopKey, dpopToken, count, `run${String(proofMint.batches)}`);
  const file = path.join(tmpDir, `proofs-${String(proofMint.batches)}.txt`);
  writeFileSync(file, proofs.join('\n'));
  const loaded = await request(loader, { type: 'proofs', token: dpopToken, file }, 'proofs-loaded');
  rmSync(file, { force: true });
  if (loaded.count !== count)
    throw new BrokenBenchmark(`the load generator holds ${loaded.count} proofs, expected ${count}`);
  proofMint.batches++;
  proofMint.proofs += count;
  proofMint.seconds += (performance.now() - started) / 1000;
}

const line = (r) =>
  `${r.workload.padEnd(8)} ${r.variant.padEnd(19)} ${fmtInt(r.reqPerSec).padStart(7)} req/s  p99 ${fmtMs(r.latencyP99Ms).padStart(5)} ms  ` +
  `non-2xx ${r.non2xx}  CPU server ${r.serverCpuPct.toFixed(0)}% loader ${r.loaderCpuPct.toFixed(0)}% ` +
  `other ${r.foreignCpuPct.server.toFixed(0)}%/${r.foreignCpuPct.loader.toFixed(0)}%` +
  (r.cold ? `  fresh tokens ${fmtInt(r.cold.used)}` : '') +
  (r.phase === 'warm-up' && r.rotation
    ? `  rotation tokens sent ${fmtInt(Math.min(r.rotation.sentSoFar, 2 * r.rotation.size))}/${fmtInt(2 * r.rotation.size)} (two passes)`
    : '');

const runs = [];
/** Concurrent pairs, every round (see PAIRS). */
const pairs = [];
const pairLine = (p) =>
  `${p.workload.padEnd(8)} ${`${p.of} / ${p.over}`.padEnd(28)} ${fmtInt(p.reqPerSec[0]).padStart(6)} / ${fmtInt(p.reqPerSec[1]).padStart(6)} req/s  ` +
  `per CPU-second ${fmtInt(p.perCpuSecond[0])} / ${fmtInt(p.perCpuSecond[1])} = ${fmtRatio(p.ratio)}  ` +
  `CPU ${p.cpuSharePct.map((c) => c.toFixed(0)).join('%/')}%  other ${p.foreignCpuPct.toFixed(0)}%` +
  (p.toppedUp ? `  (${p.toppedUp.variant} topped up ${p.toppedUp.seconds.toFixed(1)} s)` : '') +
  (p.unsaturated ? '  <- core 0 not saturated' : '');

/** Warm up every variant on every workload it runs (fresh processes: JIT, caches, key set). */
async function warmUp(roundsLeft) {
  for (const variant of variants) {
    const workloads = WORKLOADS.filter((workload) => runsWorkload(variant, workload));
    // Every process gets the same warm-up time in all (the JIT's tiering depends on it): a variant
    // that skips workloads warms up longer on the ones it runs.
    const warmupS = (config.warmupS * WORKLOADS.length) / workloads.length;
    for (const workload of workloads) {
      // Cold load still ahead of this variant: this warm-up and every measured round left.
      // (A measured run and a concurrent pair per round.)
      const coldSecondsLeft = warmupS + roundsLeft * (warmupS + 2 * (config.durationS + config.rewarmS));
      let r = await measure(variant, workload, warmupS, 'warm-up', coldSecondsLeft);
      runs.push(r);
      console.log(`  ${line(r)}`);
      // Rotation: warm up until every one of its tokens reached this server twice, so the measured
      // rounds see the steady state: bearer-guard's token cache admits a token on its second
      // verification, and for the introspection variant the first pass through the rotation is
      // 2,000 introspection calls, far slower than what follows.
      while (workload === 'rotation' && r.rotation.sentSoFar < 2 * r.rotation.size) {
        r = await measure(variant, workload, warmupS, 'warm-up');
        runs.push(r);
        console.log(`  ${line(r)}`);
      }
    }
  }
}

/** A shuffled copy (Fisher-Yates). */
function shuffle(list) {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

try {
  // --- 5./6. rounds: fresh server processes, a warm-up, then every variant x workload once ------
  // The same code in two processes can run 10-25 % apart for a whole process lifetime (see the
  // noise floor), so every round starts new server processes: a fast or slow process then moves
  // one round, which the median of the rounds discounts.
  for (let round = 0; round < config.rounds; round++) {
    if (round > 0) {
      await startServers();
      await checkServers();
      for (const variant of variants)
        await request(loader, { type: 'reset-rotation', variant }, 'rotation-reset');
    }
    console.log(`\nRound ${round + 1}/${config.rounds}: warm-up (fresh server processes)`);
    await warmUp(config.rounds - round);
    console.log(`Round ${round + 1}/${config.rounds}: measured`);
    for (const workload of rotate(WORKLOADS, round)) {
      // A new order every round: no variant always runs right after the same other one.
      for (const variant of shuffle(variants)) {
        if (!runsWorkload(variant, workload)) continue;
        await sleep(250); // let the previous run's sockets close
        const r = await measure(
          variant,
          workload,
          config.durationS,
          'measure',
          (config.rounds - round) * config.durationS,
        );
        r.round = round + 1;
        runs.push(r);
        console.log(`  ${line(r)}`);
      }
    }
    console.log(`Round ${round + 1}/${config.rounds}: concurrent pairs`);
    for (const pair of shuffle(PAIRS)) {
      await sleep(250);
      const p = await measurePair(pair, config.durationS);
      p.round = round + 1;
      pairs.push(p);
      console.log(`  ${pairLine(p)}`);
    }
  }
} catch (error) {
  if (error instanceof BrokenBenchmark) {
    console.error(`\nFAILED: ${error.message}`);
    await writeResults({ status: 'broken', error: error.message });
    process.exit(1);
  }
  throw error;
}

// --- 7. summary --------------------------------------------------------------------------------
await stopServers(); // every server process's counts are now in `retired`
const serverProcesses = retired['bare']?.processes ?? 0;
const jwksFetches = {};
for (const variant of ['bearer-guard', 'peer']) jwksFetches[variant] = retired[variant].jwksFetches;

// What the stub introspection endpoints saw (one per server process: sanity checks, warm-up, its
// round). The cache is on throughout and holds every token for longer than a process lives, so in
// each process every distinct token must have been introspected exactly once: calls === distinct
// tokens, summed over the processes. Each process can be presented at most this many distinct
// tokens: the sanity-check tokens, the repeated one, the rotation.
const introspectionSeen = retired.introspection.introspection;
const introspection = {
  processes: serverProcesses,
  calls: introspectionSeen.calls,
  distinctTokens: introspectionSeen.distinctTokens,
  inactive: introspectionSeen.inactive,
  refusedClientAuthentication: introspectionSeen.refused,
  presented: {
    sanityChecks: new Set(Object.values(sanity)).size,
    repeated: 1,
    rotation: config.rotationSize,
  },
};
introspection.presented.total =
  serverProcesses *
  (introspection.presented.sanityChecks +
    introspection.presented.repeated +
    introspection.presented.rotation);
introspection.pass = introspection.calls === introspection.distinctTokens;

const measured = runs.filter((r) => r.phase === 'measure');
const cells = {};
for (const workload of WORKLOADS) {
  cells[workload] = {};
  for (const variant of variants) {
    if (!runsWorkload(variant, workload)) {
      cells[workload][variant] = { skipped: skipReason(variant, workload) };
      continue;
    }
    const mine = measured.filter((r) => r.variant === variant && r.workload === workload);
    cells[workload][variant] = {
      reqPerSec: median(mine.map((r) => r.reqPerSec)),
      reqPerSecMin: Math.min(...mine.map((r) => r.reqPerSec)),
      reqPerSecMax: Math.max(...mine.map((r) => r.reqPerSec)),
      p99Ms: median(mine.map((r) => r.latencyP99Ms)),
      non2xx: mine.reduce((sum, r) => sum + r.non2xx, 0),
      responses: mine.reduce((sum, r) => sum + r.requestsTotal, 0),
      serverCpuPct: median(mine.map((r) => r.serverCpuPct)),
      loaderCpuPct: median(mine.map((r) => r.loaderCpuPct)),
      runs: mine.length,
    };
  }
  const bare = cells[workload].bare.reqPerSec;
  for (const variant of variants) {
    if (runsWorkload(variant, workload)) {
      cells[workload][variant].vsBare = cells[workload][variant].reqPerSec / bare;
    }
  }
}
const ratio = (workload, of, over) => cells[workload][of].reqPerSec / cells[workload][over].reqPerSec;
/**
 * The same ratio within each round: the two runs of a round are seconds apart, so a machine that
 * speeds up or slows down over minutes (shared hosts do) moves both alike. How much it moves from
 * round to round is the noise; its median is the figure the targets are judged on.
 */
const perRound = (workload, of, over) => {
  const values = [];
  for (let round = 1; round <= config.rounds; round++) {
    const a = measured.find((r) => r.round === round && r.workload === workload && r.variant === of);
    const b = measured.find((r) => r.round === round && r.workload === workload && r.variant === over);
    if (a && b) values.push(a.reqPerSec / b.reqPerSec);
  }
  return values;
};
/** Median of the per-round ratios (NaN when no round ran both). */
const pairedRatio = (workload, of, over) => spread(perRound(workload, of, over)).median;
/** Ratios between auth variants, per workload, where both variants ran it (paired, as the targets). */
const CROSS_RATIOS = [
  ['bearerGuardVsPeer', 'bearer-guard / peer', 'bearer-guard', 'peer'],
  ['bearerGuardVsJoseFloor', 'bearer-guard / jose floor', 'bearer-guard', 'jose-floor'],
  ['introspectionVsBearerGuard', 'introspection / bearer-guard', 'introspection', 'bearer-guard'],
  ['redisHitVsCall', 'introspection-redis / introspection-call', 'introspection-redis', 'introspection-call'],
];
const crossRatios = {};
for (const workload of WORKLOADS) {
  crossRatios[workload] = {};
  for (const [key, , of, over] of CROSS_RATIOS) {
    if (
      variants.includes(of) &&
      variants.includes(over) &&
      runsWorkload(of, workload) &&
      runsWorkload(over, workload)
    )
      crossRatios[workload][key] = pairedRatio(workload, of, over);
  }
}
/** JSON as the repository's Prettier would print it (so `npm run lint` passes), plain if it is absent. */
async function formatJson(data) {
  const text = `${JSON.stringify(data, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    return await prettier.format(text, { parser: 'json', ...(await prettier.resolveConfig(RESULTS_DIR)) });
  } catch {
    return text;
  }
}

/** The concurrent pairs' ratios of one pair id, one per round, with their median and range. */
const pairStats = (id) => spread(pairs.filter((p) => p.id === id).map((p) => p.ratio));
const pairNoise = pairStats(NOISE_PAIR.id);
const pairVerdicts = targets.map((t) => {
  const { median: value, perRound } = pairStats(t.id);
  return { ...t, value, pass: value >= t.min, perRound };
});
const scaleRatios = SCALE_PAIRS.map((t) => {
  const { median: value, perRound } = pairStats(t.id);
  return { ...t, value, perRound, sequential: pairedRatio(t.workload, t.of, t.over) };
});
const verdicts = targets.map((t) => {
  const rounds = perRound(t.workload, t.of, t.over);
  const value = pairedRatio(t.workload, t.of, t.over);
  return {
    ...t,
    value,
    ratioOfMedians: ratio(t.workload, t.of, t.over),
    pass: value >= t.min,
    perRound: rounds,
  };
});
for (const workload of WORKLOADS) {
  for (const variant of variants) {
    if (runsWorkload(variant, workload))
      cells[workload][variant].pairedVsBare = variant === 'bare' ? 1 : pairedRatio(workload, variant, 'bare');
  }
}
// The noise floor: bare Express against itself (two identical servers, same rounds).
const noiseFloor = spread(perRound('repeated', 'bare-2', 'bare'));

// The shared-store row (issue 15), when redis-server is here: its own call checks, the sequential
// figures beside the pair, and the calls for one token across replicas.
let shared = { skipped: sharedStore.reason };
if (sharedStore.available) {
  // introspection-redis: no in-memory level, Redis flushed before every round, so one call per
  // distinct token per process (a Redis that lost or refused entries would show as more calls).
  const onRedis = retired['introspection-redis'];
  const redisCalls = {
    processes: onRedis.processes,
    calls: onRedis.introspection.calls,
    distinctTokens: onRedis.introspection.distinctTokens,
    presented: onRedis.processes * (new Set(Object.values(sanity)).size + config.rotationSize),
    redisErrors: onRedis.redisErrors,
  };
  redisCalls.pass =
    redisCalls.calls === redisCalls.distinctTokens &&
    onRedis.introspection.refused === 0 &&
    redisCalls.redisErrors.store === 0;
  // introspection-call: the cache off, so one call per request that carried a token.
  const seen = await endpointStats();
  const callCalls = {
    processes: retired['introspection-call'].processes,
    calls: seen.calls,
    requestsWithToken: retired['introspection-call'].bearerRequests,
    refused: seen.refused,
  };
  callCalls.pass = callCalls.calls === callCalls.requestsWithToken && callCalls.refused === 0;
  const pairId = 'redis-hit-vs-call';
  const mine = pairs.filter((p) => p.id === pairId);
  const sequential = (variant) => cells.rotation[variant];
  shared = {
    workload: 'rotation',
    pair: {
      ...pairStats(pairId),
      perCpuSecond: mine.map((p) => p.perCpuSecond),
      // Requests per CPU-second of the server and its remote end (redis-server, the endpoint).
      withRemote: spread(mine.map((p) => p.perCpuSecondWithRemote[0] / p.perCpuSecondWithRemote[1])),
    },
    sequential: {
      reqPerSec: {
        'introspection-redis': sequential('introspection-redis').reqPerSec,
        'introspection-call': sequential('introspection-call').reqPerSec,
      },
      p99Ms: {
        'introspection-redis': sequential('introspection-redis').p99Ms,
        'introspection-call': sequential('introspection-call').p99Ms,
      },
      paired: spread(perRound('rotation', 'introspection-redis', 'introspection-call')),
      remoteCpuPct: {
        'introspection-redis': median(
          measured.filter((r) => r.variant === 'introspection-redis').map((r) => r.remoteCpuPct),
        ),
        'introspection-call': median(
          measured.filter((r) => r.variant === 'introspection-call').map((r) => r.remoteCpuPct),
        ),
      },
    },
    calls: { 'introspection-redis': redisCalls, 'introspection-call': callCalls },
  };
  console.log('\nIntrospection calls for one token across replicas (must stay 1)');
  try {
    shared.replicas = await measureReplicas({ jwks, redis, pinning, niceness: priority.niceness });
  } catch (error) {
    shared.replicas = { pass: false, error: String(error?.message ?? error) };
    console.error(`  FAILED: ${shared.replicas.error}`);
  }
  shared.pass = redisCalls.pass && callCalls.pass && shared.replicas.pass;
}

// Cold-path token accounting: per variant that runs the cold path, fresh tokens handed out vs the pool.
const coldUse = {};
for (const variant of variants.filter((v) => runsWorkload(v, 'cold'))) {
  const mine = [...runs, ...discarded].filter((r) => r.variant === variant && r.workload === 'cold');
  // The concurrent pairs' cold runs too (one side each).
  for (const p of pairs.filter((pair) => pair.workload === 'cold')) {
    const side = [p.of, p.over].indexOf(variant);
    if (side >= 0) mine.push({ cold: p.cold[side], requestsSent: p.requestsSent[side] });
  }
  coldUse[variant] = {
    used: mine.reduce((sum, r) => sum + r.cold.used, 0),
    sent: mine.reduce((sum, r) => sum + r.requestsSent, 0),
    pool: coldPool,
    wrapped: mine.some((r) => r.cold.exhausted),
  };
}

const WORKLOAD_LABEL = {
  repeated: 'repeated token',
  rotation: '2,000 in rotation',
  cold: 'cold (never seen)',
};
const cols = [
  ['workload', 18],
  ['variant', 19],
  ['median req/s', 12],
  ['min–max req/s', 16],
  ['p99 ms', 7],
  ['x bare', 7],
  ['paired', 7],
  ['non-2xx', 8],
  ['srv CPU', 8],
];
const row = (values) =>
  values.map((v, i) => (i < 2 ? String(v).padEnd(cols[i][1]) : String(v).padStart(cols[i][1]))).join('  ');
console.log(
  `\nResults — medians of ${config.rounds} run(s) of ${config.durationS} s; ratios from this run: ` +
    '"x bare" = ratio of the medians, "paired" = median of the per-round ratios (the one targets use); ' +
    '— = workload not run by that variant\n',
);
console.log(row(cols.map(([name]) => name)));
console.log('-'.repeat(cols.reduce((n, [, w]) => n + w + 2, -2)));
for (const workload of WORKLOADS) {
  for (const variant of variants) {
    const c = cells[workload][variant];
    const label = variant === variants[0] ? WORKLOAD_LABEL[workload] : '';
    if (c.skipped !== undefined) {
      console.log(row([label, variant, ...cols.slice(2).map(() => '—')]));
      continue;
    }
    console.log(
      row([
        label,
        variant,
        fmtInt(c.reqPerSec),
        `${fmtInt(c.reqPerSecMin)}–${fmtInt(c.reqPerSecMax)}`,
        fmtMs(c.p99Ms),
        fmtRatio(c.vsBare),
        fmtRatio(c.pairedVsBare),
        c.non2xx,
        `${c.serverCpuPct.toFixed(0)}%`,
      ]),
    );
  }
  const cross = CROSS_RATIOS.filter(([key]) => key in crossRatios[workload]).map(
    ([key, label]) => `${label} = ${fmtRatio(crossRatios[workload][key])}`,
  );
  console.log(`${''.padEnd(20)}${cross.join('   ')}`);
}

const presented = introspection.presented;
console.log(
  `\nintrospection calls: ${fmtInt(introspection.calls)} for ${fmtInt(introspection.distinctTokens)} distinct tokens` +
    (introspection.pass
      ? ' (one call per distinct token: OK)'
      : ' (MISMATCH: must be one call per distinct token)'),
);
console.log(
  `  the run presented up to ${fmtInt(presented.total)} distinct tokens to its ${serverProcesses} processes (each: ${presented.sanityChecks} in the ` +
    `sanity checks, ${presented.repeated} repeated, ${fmtInt(presented.rotation)} in rotation); ${introspection.inactive} answered inactive, ` +
    `${introspection.refusedClientAuthentication} client authentication(s) refused`,
);
if (introspection.distinctTokens !== presented.total) {
  console.log(
    `  WARNING: the endpoint saw ${fmtInt(introspection.distinctTokens)} distinct tokens, not ${fmtInt(presented.total)}`,
  );
}

if (shared.skipped !== undefined) {
  console.log(`\nShared store: SKIPPED (${shared.skipped})`);
} else {
  const { pair, sequential: seq, calls: sc, replicas } = shared;
  const hit = 'introspection-redis';
  const call = 'introspection-call';
  console.log(
    '\nShared store, 2,000 in rotation: a Redis hit (introspection-redis, localTtl 0: GET + HMAC + parse) ' +
      'against the introspection call it replaces (introspection-call, cache off)',
  );
  console.log(
    `  concurrent pairs, requests per server CPU-second: ${fmtRatio(pair.median)} (per round ${fmtRatio(pair.min)}–${fmtRatio(pair.max)}); ` +
      `counting the remote end's CPU too (redis-server / the endpoint process): ${fmtRatio(pair.withRemote.median)}`,
  );
  console.log(
    `  sequential: ${fmtInt(seq.reqPerSec[hit])} / ${fmtInt(seq.reqPerSec[call])} req/s (p99 ${fmtMs(seq.p99Ms[hit])} / ${fmtMs(seq.p99Ms[call])} ms), ` +
      `paired ${fmtRatio(seq.paired.median)}; remote end busy ${seq.remoteCpuPct[hit].toFixed(0)}% / ${seq.remoteCpuPct[call].toFixed(0)}% of a core (on core 1)`,
  );
  console.log(
    `  introspection calls: introspection-redis ${fmtInt(sc[hit].calls)} for ${fmtInt(sc[hit].distinctTokens)} distinct tokens ` +
      `(one per distinct token per round: ${sc[hit].pass ? 'OK' : 'MISMATCH'}; ${sc[hit].redisErrors.store} failed Redis command(s)); ` +
      `introspection-call ${fmtInt(sc[call].calls)} for ${fmtInt(sc[call].requestsWithToken)} requests with a token ` +
      `(one per request: ${sc[call].pass ? 'OK' : 'MISMATCH'})`,
  );
  if (replicas.perCount) {
    console.log(
      `  introspection calls for one token across ${replicas.perCount.map((r) => r.replicas).join(', ')} replicas: ` +
        replicas.perCount.map((r) => r.calls).join(', ') +
        (replicas.pass ? ' (must stay 1: OK)' : ' (MUST STAY 1: FAILED)'),
    );
  } else {
    console.log(`  introspection calls across replicas: FAILED (${replicas.error})`);
  }
}

console.log(
  `\nNoise floor, sequential runs: bare-2 / bare (the same code measured twice) = ${fmtRatio(noiseFloor.median)} ` +
    `(per round ${fmtRatio(noiseFloor.min)}–${fmtRatio(noiseFloor.max)})`,
);
console.log(
  `Noise floor, concurrent pairs: bare-2 / bare = ${fmtRatio(pairNoise.median)} ` +
    `(per round ${fmtRatio(pairNoise.min)}–${fmtRatio(pairNoise.max)})`,
);

const spreadOf = (perRound) =>
  perRound.length > 1 ? `  per round: ${perRound.map(fmtRatio).join(', ')}` : '';
console.log(
  '\nTargets, judged on the concurrent pairs (median of the per-round ratios of requests per server CPU-second)',
);
for (const v of pairVerdicts) {
  console.log(`  [${v.pass ? 'PASS' : 'MISS'}] ${v.label}: ${fmtRatio(v.value)}${spreadOf(v.perRound)}`);
}
console.log(
  '\nThe same targets on the sequential runs, for reference (median of the per-round ratios; the ratio of the medians in brackets)',
);
for (const v of verdicts) {
  console.log(
    `  [${v.pass ? 'pass' : 'miss'}] ${v.label}: ${fmtRatio(v.value)} (${fmtRatio(v.ratioOfMedians)})${spreadOf(v.perRound)}`,
  );
}
// The ceiling of a "x the peer" target: bare Express (no auth at all) against the peer, same rounds.
for (const v of verdicts.filter((t) => t.over === 'peer')) {
  console.log(
    `  for scale: bare Express itself is ${fmtRatio(pairedRatio(v.workload, 'bare', 'peer'))} x the peer ` +
      `on the ${v.workload} workload, the ceiling for any middleware`,
  );
}
for (const v of scaleRatios) {
  console.log(
    `  for scale, in pairs: ${v.label}: ${fmtRatio(v.value)}${spreadOf(v.perRound)} (sequential ${fmtRatio(v.sequential)})`,
  );
}

console.log('\nNotes');
for (const variant of Object.keys(coldUse).filter((v) => !UNAUTHENTICATED.has(v))) {
  const u = coldUse[variant];
  console.log(
    `  cold path, ${variant}: ${fmtInt(u.used)} fresh tokens used (${fmtInt(u.sent)} requests sent) of ${fmtInt(coldPool)} minted; none reused`,
  );
}
for (const [variant, workloads] of Object.entries(SKIPPED).filter(([v]) => variants.includes(v))) {
  for (const [workload, reason] of Object.entries(workloads ?? {}))
    console.log(`  ${variant} skips the ${workload} workload: ${reason}`);
}
console.log(
  `  DPoP proofs minted between runs: ${fmtInt(proofMint.proofs)} in ${proofMint.batches} pool(s), ${proofMint.seconds.toFixed(1)} s (a fresh pool per dpop run, none reused)`,
);
console.log(
  `  cold-path tokens minted between runs: ${fmtInt(coldMint.tokens)} in ${coldMint.batches} batch(es), ${coldMint.seconds.toFixed(1)} s`,
);
for (const variant of [...UNAUTHENTICATED].filter((v) => coldUse[v]?.wrapped))
  console.log(`  cold path, ${variant}: wrapped around the pool (allowed: bare Express ignores the header)`);
const unsaturated = pairs.filter((p) => p.unsaturated);
console.log(
  `  concurrent pairs: ${unsaturated.length} of ${pairs.length} left core 0 partly idle (the two servers below 90 % of it, or one below 35 %)` +
    (unsaturated.length ? `: ${unsaturated.map((p) => `${p.id}#${p.round}`).join(', ')}` : '') +
    `; load generator CPU in the pairs peaked at ${Math.max(...pairs.map((p) => p.loaderCpuPct)).toFixed(0)}% of its core`,
);
console.log(
  `  JWKS fetches: bearer-guard ${jwksFetches['bearer-guard']}, peer ${jwksFetches.peer} ` +
    `(expected 1 per server process: ${serverProcesses})`,
);
const loaderMax = Math.max(...measured.map((r) => r.loaderCpuPct));
const serverMin = Math.min(...measured.map((r) => r.serverCpuPct));
console.log(
  `  load generator CPU peaked at ${loaderMax.toFixed(0)}% of its core; server CPU was at least ${serverMin.toFixed(0)}% of its core`,
);
const disturbedKept = measured.filter((r) => r.disturbed);
console.log(
  `  other processes: ${discarded.length} disturbed run(s) repeated; ${disturbedKept.length} kept although disturbed ` +
    `(>${config.maxForeignPct}% of the server core taken by something else, or of a saturated load-generator core)` +
    (disturbedKept.length
      ? `: ${disturbedKept.map((r) => `${r.variant}/${r.workload}#${r.round}`).join(', ')}`
      : ''),
);
console.log(
  `  ${((config.waitBudgetS * 1000 - Math.max(0, waitBudgetMs)) / 1000).toFixed(0)} s of the ${config.waitBudgetS} s budget spent waiting for an idle machine and repeating runs`,
);
if (disturbedKept.length > measured.length / 4) {
  console.log(
    `  WARNING: ${disturbedKept.length} of ${measured.length} measured runs were disturbed by other work: these numbers are not ` +
      'reliable. Run again on a quiet machine, or with BENCH_NICE=-10.',
  );
}
if (loaderMax > 90)
  console.log(
    '  WARNING: the load generator was near saturation in some run; the fastest variants may be under-measured.',
  );
if (!pinning.pinned) console.log(`  WARNING: unpinned run (${pinning.reason}).`);

const report = {
  disturbedRunsKept: disturbedKept.length,
  summary: cells,
  crossRatios,
  noiseFloor,
  targets: pairVerdicts,
  scale: scaleRatios,
  concurrentPairsNoiseFloor: pairNoise,
  sequentialTargets: verdicts,
  coldTokens: { minted: coldMint, perVariant: coldUse },
  dpopProofs: proofMint,
  jwksFetches,
  introspection,
  sharedStore: shared,
};
if (!introspection.pass) {
  const broken = new BrokenBenchmark(
    `introspection: ${introspection.calls} calls for ${introspection.distinctTokens} distinct tokens; with the cache ` +
      'on for the whole run every distinct token must be introspected exactly once ' +
      `(${introspection.refusedClientAuthentication} call(s) refused for client authentication).`,
  );
  console.error(`\nFAILED: ${broken.message}`);
  await writeResults({ status: 'broken', error: broken.message, report });
  process.exit(1);
}
if (shared.pass === false) {
  const broken = new BrokenBenchmark(
    'shared store: ' +
      [
        shared.calls['introspection-redis'].pass
          ? undefined
          : 'introspection-redis was not introspected once per distinct token',
        shared.calls['introspection-call'].pass
          ? undefined
          : 'introspection-call did not make one call per request',
        shared.replicas.pass
          ? undefined
          : `the calls for one token across replicas were not 1 (${shared.replicas.perCount?.map((r) => r.calls).join(', ') ?? shared.replicas.error})`,
      ]
        .filter(Boolean)
        .join('; '),
  );
  console.error(`\nFAILED: ${broken.message}`);
  await writeResults({ status: 'broken', error: broken.message, report });
  process.exit(1);
}
const file = await writeResults({ status: 'ok', report });
console.log(`\nWritten to ${path.relative(process.cwd(), file)}`);
if (config.enforce && pairVerdicts.some((v) => !v.pass)) process.exit(2);
process.exit(0);

/**
 * Write bench/results/latest.json: the set-up and every run, plus `report` (summary, ratios,
 * targets, token accounting) once the runs are done.
 */
async function writeResults({ status, error, report: summary = {} }) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, 'latest.json');
  const data = {
    date: new Date().toISOString(),
    status,
    ...(error === undefined ? {} : { error }),
    code,
    machine,
    pinning,
    niceness: priority.niceness ?? 0,
    config,
    skippedWorkloads: SKIPPED,
    ...summary,
    runs,
    pairs,
    discardedRuns: discarded,
  };
  writeFileSync(file, await formatJson(data));
  return file;
}
