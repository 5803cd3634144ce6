// The load generator: `node bench/loader.mjs`, started by run.mjs (pinned to core 1 with taskset)
// and driven over the IPC channel. It stays up for the whole run, holds the pre-minted tokens and
// runs autocannon (programmatically, in this one process: no autocannon workers) on command.
//
// Workloads (the token in `Authorization: Bearer …`):
//   repeated  one token on every request (static request buffer, no per-request work);
//   rotation  2 000 distinct tokens, one index advancing on every request; each server variant has
//             its own index, kept across its warm-up and measured runs, so every server walks the
//             same tokens in the same order; each result says how many rotation tokens that server
//             got so far (run.mjs warms up until it got every one once: the introspection variant's
//             first 2 000 requests are its 2 000 introspection calls);
//   cold      a token never presented before to that server: each server variant has its own
//             cursor into the pool, shared by its warm-up and all its measured runs, so no token
//             reaches the same server twice. Only the bare variant (which ignores the header) may
//             wrap around; for an auth variant an exhausted pool fails the run.
//
// The `dpop` variant, whatever the workload, gets `Authorization: DPoP <token>` and a `DPoP` proof
// from the pool run.mjs loaded last (dpop.mjs), each proof sent once.
//
// Messages in:  { type: 'tokens', repeated, rotation }            -> { type: 'tokens-loaded' }
//               { type: 'cold', file }                           -> { type: 'cold-loaded', count }
//               { type: 'proofs', token, file }                  -> { type: 'proofs-loaded', count }
//               { type: 'run', id, port, variant, workload, duration, connections }
//                                                                -> { type: 'result', id, … }
// The pool file holds one token per line (written by run.mjs into a temporary directory).

import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

if (!process.send) throw new Error('loader.mjs is started by bench/run.mjs (it needs an IPC channel)');
process.on('disconnect', () => process.exit(0));

let repeated;
/** @type {string[]} */ let rotation = [];
/** @type {string[]} */ let cold = [];
/** Per-variant position in the rotation: the next token that server gets. */
const rotationIndex = new Map();
/** Per-variant number of rotation tokens sent so far (all runs). */
const rotationSent = new Map();
/** Per-variant position in the cold pool: tokens [0, cursor) were already sent to that server. */
const coldCursor = new Map();
/** The `dpop` variant's token and proof pool (dpop.mjs): each proof is sent once, in order. */
const dpop = { token: undefined, proofs: [], cursor: 0 };
/** The autocannon instance running now, stopped on SIGINT/SIGTERM. */
let running;

function header(token) {
  return `Bearer ${token}`;
}

/** autocannon `requests` entry whose header is rebuilt before every request. */
function dynamicRequest(nextToken) {
  return [
    {
      method: 'GET',
      path: '/hello',
      setupRequest(request) {
        // `request` is a fresh copy made by autocannon's request builder: safe to change.
        request.headers.authorization = header(nextToken());
        return request;
      },
    },
  ];
}

function runOnce({ id, port, variant, workload, duration, connections }) {
  const options = {
    url: `http://127.0.0.1:${port}/hello`,
    connections,
    pipelining: 1,
    duration,
    // Keep the default 10 s timeout; a timeout is counted as an error and reported.
  };
  let coldStart = 0;
  let coldCursorNow = 0;
  let coldExhausted = false;
  let rotationNext = 0;
  let rotationCount = 0;
  let dpopStart = 0;
  let dpopExhausted = false;
  if (variant === 'dpop') {
    // Whatever the workload: one DPoP-bound token, and a proof never sent before on every request.
    // An exhausted pool re-sends the last proof, which the server refuses as a replay (a broken run).
    dpopStart = dpop.cursor;
    options.requests = [
      {
        method: 'GET',
        path: '/hello',
        setupRequest(request) {
          if (dpop.cursor >= dpop.proofs.length) {
            dpopExhausted = true;
            dpop.cursor = dpop.proofs.length - 1;
          }
          request.headers.authorization = `DPoP ${dpop.token}`;
          request.headers.dpop = dpop.proofs[dpop.cursor++];
          return request;
        },
      },
    ];
  } else if (workload === 'repeated') {
    options.headers = { authorization: header(repeated) };
  } else if (workload === 'rotation') {
    rotationNext = rotationIndex.get(variant) ?? 0;
    options.requests = dynamicRequest(() => {
      const token = rotation[rotationNext];
      rotationNext = (rotationNext + 1) % rotation.length;
      rotationCount++;
      return token;
    });
  } else if (workload === 'cold') {
    if (cold.length === 0) throw new Error('no cold-path tokens loaded');
    coldStart = coldCursor.get(variant) ?? 0;
    coldCursorNow = coldStart;
    const mayWrap = variant === 'bare' || variant === 'bare-2'; // they ignore the header
    options.requests = dynamicRequest(() => {
      if (coldCursorNow >= cold.length) {
        // Out of fresh tokens. The bare server ignores the header, so it may wrap around; for an
        // auth variant the run keeps going (re-sending the last token) but is reported invalid.
        coldExhausted = true;
        coldCursorNow = mayWrap ? 0 : cold.length - 1;
      }
      return cold[coldCursorNow++];
    });
  } else {
    throw new Error(`unknown workload ${workload}`);
  }

  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const instance = autocannon(options);
  running = instance;
  // A connection error is counted by autocannon (and reported); nothing to print per error.
  instance.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    instance.once('done', (result) => {
      running = undefined;
      const cpu = process.cpuUsage(cpuBefore);
      const wallMs = performance.now() - wallBefore;
      const reply = {
        type: 'result',
        id,
        variant,
        workload,
        durationS: result.duration,
        reqPerSec: result.requests.average,
        requestsTotal: result.requests.total,
        requestsSent: result.requests.sent,
        latencyP50Ms: result.latency.p50,
        latencyP99Ms: result.latency.p99,
        latencyMaxMs: result.latency.max,
        ok2xx: result['2xx'],
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        statusCodes: Object.fromEntries(
          Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
        ),
        loaderCpuMs: (cpu.user + cpu.system) / 1000,
        loaderCpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      };
      if (variant === 'dpop') {
        reply.dpop = { used: dpop.cursor - dpopStart, pool: dpop.proofs.length, exhausted: dpopExhausted };
      }
      if (workload === 'rotation') {
        rotationIndex.set(variant, rotationNext);
        rotationSent.set(variant, (rotationSent.get(variant) ?? 0) + rotationCount);
        // Tokens handed to autocannon (as `used` for the cold path below); once `sentSoFar` reaches
        // the rotation's size, every rotation token went to this server at least once.
        reply.rotation = { used: rotationCount, sentSoFar: rotationSent.get(variant), size: rotation.length };
      }
      if (workload === 'cold') {
        // `used` counts tokens handed to autocannon; a few (one per connection, built at start-up)
        // may never be sent, so `used` >= requests actually sent.
        const end = coldExhausted ? cold.length : coldCursorNow;
        coldCursor.set(variant, end);
        reply.cold = {
          start: coldStart,
          end,
          used: end - coldStart,
          pool: cold.length,
          exhausted: coldExhausted,
        };
      }
      resolve(reply);
    });
    instance.once('error', reject);
  });
}

process.on('message', async (message) => {
  try {
    if (message.type === 'tokens') {
      repeated = message.repeated;
      rotation = message.rotation;
      process.send({ type: 'tokens-loaded' });
    } else if (message.type === 'cold') {
      for (const token of readFileSync(message.file, 'utf8').split('\n')) if (token) cold.push(token);
      process.send({ type: 'cold-loaded', count: cold.length });
    } else if (message.type === 'proofs') {
      // A fresh pool for the `dpop` variant's next run(s), replacing the previous one.
      dpop.token = message.token;
      dpop.proofs = readFileSync(message.file, 'utf8').split('\n').filter(Boolean);
      dpop.cursor = 0;
      process.send({ type: 'proofs-loaded', count: dpop.proofs.length });
    } else if (message.type === 'reset-rotation') {
      // A fresh server process for this variant: it starts the rotation from its first token again.
      rotationIndex.delete(message.variant);
      rotationSent.delete(message.variant);
      process.send({ type: 'rotation-reset', id: message.id });
    } else if (message.type === 'run') {
      process.send(await runOnce(message));
    }
  } catch (error) {
    process.send({ type: 'failed', id: message.id, error: String(error?.stack ?? error) });
  }
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    running?.stop();
    process.exit(130);
  });
}

process.send({ type: 'ready', pid: process.pid });
