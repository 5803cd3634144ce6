// What @bearer-guard/otel costs a cached request, in process: `node bench/otel-overhead.mjs
// [rounds]` (after `npx tsc -b`). Not part of `npm run bench`, which measures whole servers.
//
// Each mode runs in its own process, the modes interleaved round after round (a shared machine
// drifts over minutes: neighbours in time see the same machine). A process builds one guard with
// keys from a JWKS server on 127.0.0.1, validates one token, then times a loop of what the Express
// adapter does per request on the repeated-token path: `authenticateNow()` (a cache hit, answered
// synchronously) and `requireScopes()`. It prints nanoseconds per request; the summary gives each
// mode's median over the rounds and its median paired difference to `plain` (same round).
//
//   plain   no @bearer-guard/otel at all
//   idle    BearerGuardInstrumentation constructed with `enabled: false`: no channel has a subscriber
//   noop    enabled, on OpenTelemetry's default no-op meter (no SDK registered)
//   sdk     enabled, on an SDK MeterProvider with a PeriodicExportingMetricReader (60 s interval,
//           so no export falls inside the loop), as bench/server.mjs's `otel` variant

import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { AUDIENCE, createSigningKey, ISSUER, mintToken } from './tokens.mjs';

const MODES = ['plain', 'idle', 'noop', 'sdk'];
const REQUESTS = 200_000;
const REPEATS = 5;

async function child(mode) {
  const { createGuard } = await import('@bearer-guard/core');
  const { privateKey, jwks } = await createSigningKey();
  const body = JSON.stringify(jwks);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  if (mode !== 'plain') {
    const { BearerGuardInstrumentation } = await import('@bearer-guard/otel');
    const instrumentation = new BearerGuardInstrumentation({ enabled: false });
    if (mode === 'sdk') {
      const sdk = await import('@opentelemetry/sdk-metrics');
      const reader = new sdk.PeriodicExportingMetricReader({
        exporter: new sdk.InMemoryMetricExporter(sdk.AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 60_000,
      });
      instrumentation.setMeterProvider(new sdk.MeterProvider({ readers: [reader] }));
    }
    if (mode !== 'idle') instrumentation.enable();
  }
  const jwksUri = `http://127.0.0.1:${server.address().port}/jwks`;
  const guard = createGuard({ issuer: ISSUER, audience: AUDIENCE, jwksUri, algorithms: ['ES256'] });
  const token = await mintToken(privateKey, { jti: 'repeated' });
  const request = { method: 'GET', headers: { authorization: `Bearer ${token}` }, url: '/hello' };
  // The token cache admits a token on its second verification.
  await guard.authenticate(request);
  await guard.authenticate(request);
  server.close();
  const loop = (count) => {
    for (let i = 0; i < count; i++) {
      const principal = guard.authenticateNow(request);
      if (principal instanceof Promise) throw new Error('not a cache hit');
      guard.requireScopes(principal, ['read'], 'all');
    }
  };
  loop(REQUESTS); // warm-up: optimised code from here on
  const times = [];
  for (let i = 0; i < REPEATS; i++) {
    const started = process.hrtime.bigint();
    loop(REQUESTS);
    times.push(Number(process.hrtime.bigint() - started) / REQUESTS);
  }
  console.log(JSON.stringify({ mode, nsPerRequest: median(times) }));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]);
} else {
  const rounds = Number(process.argv[2] ?? 5);
  const script = fileURLToPath(import.meta.url);
  const results = Object.fromEntries(MODES.map((mode) => [mode, []]));
  for (let round = 0; round < rounds; round++) {
    for (const mode of MODES) {
      const run = spawnSync(process.execPath, [script, '--child', mode], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`${mode}: ${run.stderr}`);
      results[mode].push(JSON.parse(run.stdout.trim()).nsPerRequest);
    }
    console.log(
      `round ${round + 1}: ${MODES.map((m) => `${m} ${results[m][round].toFixed(0)} ns`).join(', ')}`,
    );
  }
  console.log(
    '\nns per cached request (median of the rounds; paired: median of the per-round difference to plain)',
  );
  for (const mode of MODES) {
    const paired = median(results[mode].map((ns, round) => ns - results.plain[round]));
    console.log(
      `  ${mode.padEnd(6)} ${median(results[mode]).toFixed(0).padStart(6)} ns  +${paired.toFixed(0)} ns`,
    );
  }
}
