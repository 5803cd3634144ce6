// Where does a server variant spend its time? `node bench/profile.mjs [variant] [workload] [seconds]`
// (defaults: bearer-guard repeated 5). Not part of `npm run bench`; run after `npx tsc -b`.
//
// Same set-up as run.mjs (server pinned to core 0, autocannon pinned to core 1, 50 connections),
// a warm-up, then the V8 CPU profiler (the one behind `node --cpu-prof`, driven through the
// inspector so that start-up and warm-up stay out of the profile) runs inside the server for the
// measured seconds. Writes bench/results/profile-<variant>-<workload>.cpuprofile (open it in Chrome
// DevTools or speedscope) and prints a summary: self time per function and per area (Express,
// jose, node:crypto, bearer-guard, …), and the inclusive time of the heaviest functions.
//
// Tip: profile `bare` with the same workload to see what Express and HTTP alone cost.
// BENCH_NICE works as for run.mjs.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  BENCH_DIR,
  detectNiceness,
  detectPinning,
  installCleanup,
  request,
  skipReason,
  startChild,
  VARIANTS,
  WORKLOADS,
} from './harness.mjs';
import { summariseProfile } from './profile-summary.mjs';
import { createDpopKey, mintProofs } from './dpop.mjs';
import { detectRedis, SHARED_STORE_VARIANTS, startRedis } from './redis.mjs';
import { createSigningKey, mintMany, mintToken } from './tokens.mjs';

const [variant = 'bearer-guard', workload = 'repeated', secondsArg = '5'] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!VARIANTS.includes(variant)) throw new Error(`variant must be one of ${VARIANTS.join(', ')}`);
if (!WORKLOADS.includes(workload)) throw new Error(`workload must be one of ${WORKLOADS.join(', ')}`);
if (skipReason(variant, workload))
  throw new Error(`${variant} does not run ${workload}: ${skipReason(variant, workload)}`);
if (!(seconds > 0)) throw new Error('seconds must be a positive number');
const WARMUP_S = 3;

installCleanup();
const pinning = detectPinning();
if (!pinning.pinned) console.warn(`WARNING: running unpinned (${pinning.reason})`);
const { niceness, reason: niceReason } = detectNiceness(); // BENCH_NICE, as for run.mjs
if (niceReason) console.warn(`WARNING: BENCH_NICE ignored: ${niceReason}`);

const { privateKey, jwks } = await createSigningKey();
const repeated = await mintToken(privateKey, { jti: 'repeated' });
const rotation = await mintMany(privateKey, 2_000, 'rotation');

// The shared-store variants need their remote ends, on core 1 as in run.mjs.
const remoteEnv = {};
if (SHARED_STORE_VARIANTS.has(variant)) {
  const found = await detectRedis();
  if (!found.available) throw new Error(`${variant} needs a redis-server: ${found.reason}`);
  const redis = await startRedis({ binary: found.binary, core: 1, pinned: pinning.pinned, niceness });
  const endpoint = await startChild({
    script: path.join(BENCH_DIR, 'endpoint.mjs'),
    core: 1,
    pinned: pinning.pinned,
    niceness,
    env: { BENCH_JWKS: JSON.stringify(jwks) },
    name: 'introspection endpoint',
  });
  Object.assign(remoteEnv, { BENCH_REDIS_URL: redis.url, BENCH_INTROSPECTION_ENDPOINT: endpoint.url });
}

const { child: server, port } = await startChild({
  script: path.join(BENCH_DIR, 'server.mjs'),
  args: [variant],
  core: 0,
  pinned: pinning.pinned,
  niceness,
  env: { BENCH_JWKS: JSON.stringify(jwks), NODE_ENV: 'production', ...remoteEnv },
  name: `server ${variant}`,
});
const { child: loader } = await startChild({
  script: path.join(BENCH_DIR, 'loader.mjs'),
  core: 1,
  pinned: pinning.pinned,
  niceness,
  name: 'load generator',
});
await request(loader, { type: 'tokens', repeated, rotation }, 'tokens-loaded');

const resultsDir = path.join(BENCH_DIR, 'results');
mkdirSync(resultsDir, { recursive: true });
if (workload === 'cold') {
  // Enough fresh tokens for the warm-up and the profiled run at a generous 10 000 req/s.
  const count = Math.ceil(10_000 * (WARMUP_S + seconds));
  console.log(`minting ${count} cold-path tokens…`);
  const file = path.join(resultsDir, `.cold-${process.pid}.txt`);
  writeFileSync(file, (await mintMany(privateKey, count, 'cold')).join('\n'));
  await request(loader, { type: 'cold', file }, 'cold-loaded');
  rmSync(file, { force: true });
}

if (variant === 'dpop') {
  // One pool for the warm-up and the profiled run, at up to 15 000 req/s (each proof sent once).
  const count = Math.ceil(15_000 * (WARMUP_S + seconds));
  console.log(`minting ${count} DPoP proofs…`);
  const key = createDpopKey();
  const token = await mintToken(privateKey, { jti: 'dpop', claims: { cnf: { jkt: key.jkt } } });
  const file = path.join(resultsDir, `.proofs-${process.pid}.txt`);
  writeFileSync(file, mintProofs(key, token, count, 'profile').join('\n'));
  await request(loader, { type: 'proofs', token, file }, 'proofs-loaded');
  rmSync(file, { force: true });
}

const run = (duration) =>
  request(
    loader,
    { type: 'run', port, variant, workload, duration, connections: 50 },
    'result',
    (duration + 60) * 1000,
  );

const warm = await run(WARMUP_S);
console.log(`warm-up: ${Math.round(warm.reqPerSec)} req/s`);
const profileFile = path.join(resultsDir, `profile-${variant}-${workload}.cpuprofile`);
await request(server, { type: 'profile-start' }, 'profile-started');
const measured = await run(seconds);
await request(server, { type: 'profile-stop', file: profileFile }, 'profile-stopped');
console.log(
  `profiled ${seconds} s of ${variant} / ${workload}: ${Math.round(measured.reqPerSec)} req/s, p99 ${measured.latencyP99Ms} ms, ` +
    `non-2xx ${measured.non2xx} (the profiler itself costs some throughput)`,
);
if (measured.non2xx > 0 || measured.errors > 0)
  console.warn('WARNING: non-2xx answers or errors during the profiled run');

const summary = summariseProfile(profileFile, { requests: measured.requestsTotal });
const summaryFile = profileFile.replace(/\.cpuprofile$/, '.txt');
writeFileSync(summaryFile, summary);
console.log(`\n${summary}`);
console.log(
  `Profile: ${path.relative(process.cwd(), profileFile)}  summary: ${path.relative(process.cwd(), summaryFile)}`,
);
process.exit(0);
