// One benchmark server: `node bench/server.mjs <variant>`, started by run.mjs (pinned to core 0
// with taskset) and talking to it over the IPC channel.
//
// Every variant serves the same tiny route, `GET /hello` -> `res.json({ ok: true })`, on
// 127.0.0.1 and an ephemeral port:
//   bare         Express 5 alone (no auth): the baseline.
//   bare-2       the same again, in its own process: the noise-floor control (its ratio to `bare`
//                shows how far two measurements of identical code stray apart on this machine).
//   bearer-guard authenticate() + requireScopes('read') + errorHandler(), keys from a JWKS URL.
//   dpop         the same with `dpop` on: one DPoP-bound token, a fresh proof on every request.
//   jose-floor   a minimal middleware calling jose.jwtVerify() with createLocalJWKSet on every
//                request (no cache): the least work a correct verifier can do.
//   crypto-floor the platform's floor for a cold token (cold workload only): split the compact
//                JWS, node:crypto's verify with a callback (libuv's pool) on a KeyObject made once,
//                parse the claims, compare iss/aud/exp and the scope. No header rules, no key
//                selection, no error taxonomy: not a verifier anyone should ship, the least any can cost.
//   otel         bearer-guard with @bearer-guard/otel enabled on an SDK MeterProvider (metrics).
//   otel-idle    bearer-guard with @bearer-guard/otel loaded but not enabled (no subscriber).
//   peer         express-oauth2-jwt-bearer auth() + requiredScopes('read'), keys from a JWKS URL.
//   introspection
//                authenticate() with RFC 7662 introspection only (no key source, `localJwts: false`) + requireScopes('read')
//                + errorHandler(): every token is validated by the introspection endpoint, then cached.
//   introspection-redis
//                the same with @bearer-guard/redis's store, `localTtl: 0` (no in-memory level): every
//                request is a Redis GET + HMAC check + parse, the shared store's hit.
//   introspection-call
//                the same with `cache: false`: every request is an introspection call, to the stub
//                endpoint in a process of its own on core 1 (endpoint.mjs), as redis-server is.
//   introspection-replica
//                not measured: a replica of replicas.mjs (the Redis store's defaults, an endpoint
//                outside this process).
//
// bearer-guard and the peer fetch their keys from a tiny JWKS server on 127.0.0.1 inside this same
// process, so the key fetch is a real HTTP round trip; both cache the set for 10 minutes, longer
// than the run, so it happens once. The number of fetches is reported back to run.mjs.
//
// `introspection` and `introspection-redis` call a tiny RFC 7662 endpoint on 127.0.0.1
// (introspection-stub.mjs) inside this process (so on the same pinned core); `introspection-call`
// the same stub in a process of its own (endpoint.mjs, core 1). It checks the resource server's
// HTTP Basic credentials, verifies the token with jose against the bench JWK Set and answers
// `{ active: true, ...claims }` or `{ active: false }`, and counts the calls and the distinct tokens
// it saw; run.mjs requires one call per distinct token (per process) from `introspection` and
// `introspection-redis` (Redis is flushed before every round), and one call per request carrying a
// token from `introspection-call` (counted here). The Redis variants connect to BENCH_REDIS_URL (a
// redis-server run.mjs starts, pinned to core 1: its work is not this process's).
//
// The public JWK Set comes in the BENCH_JWKS environment variable (JSON).

import { writeFileSync } from 'node:fs';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import express from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DPOP_PUBLIC_URL } from './dpop.mjs';
import { INTROSPECTION_CLIENT, startIntrospectionServer } from './introspection-stub.mjs';
import { AUDIENCE, ISSUER } from './tokens.mjs';

const variant = process.argv[2];
const jwks = JSON.parse(process.env.BENCH_JWKS ?? 'null');
if (!process.send) throw new Error('server.mjs is started by bench/run.mjs (it needs an IPC channel)');
if (!jwks) throw new Error('BENCH_JWKS is not set');

// The orchestrator going away (exit, crash, SIGINT) closes the channel: never outlive it.
process.on('disconnect', () => process.exit(0));

/** Serve the JWK Set on 127.0.0.1; resolves to its URL. Counts fetches. */
let jwksFetches = 0;
function startJwksServer() {
  const body = JSON.stringify(jwks);
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/jwks') {
      jwksFetches++;
      res.writeHead(200, {
        'content-type': 'application/jwk-set+json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}/jwks`));
  });
}

const hello = (_req, res) => {
  res.json({ ok: true });
};

/** The floors' scope check: `read` in the space-separated `scope` of the claims they set on `req.auth`. */
function floorReadScope(req, res, next) {
  const scope = req.auth.scope;
  if (typeof scope === 'string' && scope.split(' ').includes('read')) next();
  else res.status(403).end();
}

/** The counts of the stub endpoint this process started (none: all zero). */
let introspection = { calls: 0, refused: 0, inactive: 0, tokens: new Set() };
/** Requests that carried an Authorization header (introspection-call: each must be one call). */
let bearerRequests = 0;
/** Failed Redis commands (the store's `onError`) and client errors (reconnections). */
const redisErrors = { store: 0, client: 0 };
/** 32 bytes and more: the HMAC key every replica's Redis store shares (a bench constant). */
const HMAC_KEY = 'bearer-guard-bench-hmac-key-0123456789abcdef';

/**
 * A Redis introspection store over its own node-redis client (the URL in BENCH_REDIS_URL, set by
 * run.mjs, which starts the redis-server).
 */
async function redisStore(storeOptions) {
  const url = process.env.BENCH_REDIS_URL;
  if (!url) throw new Error('BENCH_REDIS_URL is not set (run.mjs starts a redis-server for this variant)');
  const { createClient } = await import('redis');
  const { redisIntrospectionStore } = await import('@bearer-guard/redis');
  const client = createClient({ url, socket: { connectTimeout: 5000, reconnectStrategy: () => 50 } });
  client.on('error', () => redisErrors.client++);
  await client.connect();
  return redisIntrospectionStore({
    client,
    hmacKey: HMAC_KEY,
    onError: () => redisErrors.store++,
    ...storeOptions,
  });
}

/**
 * The introspecting variants: authenticate() with RFC 7662 introspection only + requireScopes('read')
 * + errorHandler(). No key source and `localJwts: false`: bearer-guard fetches no keys and
 * introspects the issuer's JWTs too. The bench tokens are JWTs of ISSUER, so after the routing check
 * (compact-jws.ts: canonical encoding, `iss` is ours) they take the code path of an opaque token:
 * introspection call, then the cache (keyed by the token's SHA-256), kept for up to an hour here
 * (`exp - now` bounds it anyway). A cache hit does not repeat the routing check.
 *   introspection          the in-memory cache (the default store);
 *   introspection-redis    the Redis store with `localTtl: 0`, no in-memory level: every request is
 *                          a Redis GET, the HMAC check and the parse of the entry (an opaque token
 *                          in Redis but new to this replica: the shared store's hit);
 *   introspection-call     `cache: false`: every request is an introspection call (what the
 *                          shared hit replaces);
 *   introspection-replica  the Redis store with its defaults (localTtl 5 s) and the endpoint in
 *                          BENCH_INTROSPECTION_ENDPOINT, shared by all replicas (replicas.mjs).
 */
async function introspectionApp(app, name) {
  const { authenticate, requireScopes, errorHandler } = await import('@bearer-guard/express');
  // introspection-call and the replicas call an endpoint outside this process (endpoint.mjs,
  // replicas.mjs); the in-memory variant its own stub, in this process as it always has.
  let endpoint = process.env.BENCH_INTROSPECTION_ENDPOINT;
  if (name === 'introspection' || name === 'introspection-redis') {
    const stub = await startIntrospectionServer(jwks);
    introspection = stub.counts;
    endpoint = stub.url;
  } else if (!endpoint) {
    throw new Error('BENCH_INTROSPECTION_ENDPOINT is not set (run.mjs or replicas.mjs starts the endpoint)');
  }
  const caching = {
    introspection: { cache: { maxSeconds: 3600 } },
    'introspection-redis': { cache: { maxSeconds: 3600 }, store: await redisStoreIf(name, { localTtl: 0 }) },
    'introspection-call': { cache: false },
    'introspection-replica': { cache: { maxSeconds: 3600 }, store: await redisStoreIf(name, {}) },
  }[name];
  if (name === 'introspection-call') {
    app.use((req, _res, next) => {
      if (req.headers.authorization !== undefined) bearerRequests++;
      next();
    });
  }
  app.use(
    authenticate({
      issuer: ISSUER,
      audience: AUDIENCE,
      introspection: {
        clientId: INTROSPECTION_CLIENT.id,
        clientSecret: INTROSPECTION_CLIENT.secret,
        endpoint,
        localJwts: false,
        ...caching,
      },
    }),
  );
  app.get('/hello', requireScopes('read'), hello);
  app.use(errorHandler());
}

/** The Redis store, for the variants that have one (only they connect to Redis). */
const redisStoreIf = (name, options) =>
  name === 'introspection-redis' || name === 'introspection-replica' ? redisStore(options) : undefined;

/** Build the Express app of one variant. Everything else (Express settings, route) is identical. */
async function buildApp(name) {
  const app = express();
  switch (name) {
    case 'bare':
    case 'bare-2': {
      app.get('/hello', hello);
      break;
    }
    case 'bearer-guard': {
      const { authenticate, requireScopes, errorHandler } = await import('@bearer-guard/express');
      const jwksUri = await startJwksServer();
      // Library defaults otherwise (token cache of 10 000 entries, JWKS cached for 10 minutes).
      // No ready(): the first warm-up request triggers the one key fetch, as for the peer.
      app.use(authenticate({ issuer: ISSUER, audience: AUDIENCE, jwksUri, algorithms: ['ES256'] }));
      app.get('/hello', requireScopes('read'), hello);
      app.use(errorHandler());
      break;
    }
    case 'dpop': {
      // bearer-guard as above with DPoP on (RFC 9449): the loader presents one DPoP-bound token
      // (`cnf.jkt`), each request with a fresh proof (dpop.mjs). The in-memory replay store's
      // per-key quota (10 000 live proofs, fair among many clients) is lifted: the bench is one
      // client sending thousands of proofs a second, every one of which the store must remember.
      const { authenticate, requireScopes, errorHandler, MemoryDpopReplayStore } =
        await import('@bearer-guard/express');
      const jwksUri = await startJwksServer();
      const replayStore = new MemoryDpopReplayStore({ max: 5_000_000, maxPerKey: 5_000_000 });
      app.use(
        authenticate({
          issuer: ISSUER,
          audience: AUDIENCE,
          jwksUri,
          algorithms: ['ES256'],
          publicUrl: DPOP_PUBLIC_URL,
          dpop: { replayStore },
        }),
      );
      app.get('/hello', requireScopes('read'), hello);
      app.use(errorHandler());
      break;
    }
    case 'otel':
    case 'otel-idle': {
      // bearer-guard exactly as above, with @bearer-guard/otel loaded. `otel`: the instrumentation
      // enabled, recording the metrics into an SDK MeterProvider with the reader a user would run,
      // a PeriodicExportingMetricReader (its default 60 s interval, so no export falls inside a
      // measured run: the cost is the recording itself; the exporter keeps what it is given).
      // `otel-idle`: the instrumentation constructed but not enabled, so no channel has a subscriber
      // (what `disable()` leaves): the cost of having it loaded.
      const { authenticate, requireScopes, errorHandler } = await import('@bearer-guard/express');
      const { BearerGuardInstrumentation } = await import('@bearer-guard/otel');
      const { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } =
        await import('@opentelemetry/sdk-metrics');
      const instrumentation = new BearerGuardInstrumentation({ enabled: false });
      const reader = new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 60_000,
      });
      instrumentation.setMeterProvider(new MeterProvider({ readers: [reader] }));
      if (name === 'otel') instrumentation.enable();
      const jwksUri = await startJwksServer();
      app.use(authenticate({ issuer: ISSUER, audience: AUDIENCE, jwksUri, algorithms: ['ES256'] }));
      app.get('/hello', requireScopes('read'), hello);
      app.use(errorHandler());
      break;
    }
    case 'crypto-floor': {
      // Below the jose floor: what node:crypto itself costs per cold token, plus reading the
      // claims a route needs. It trusts the header (ES256, the one key), which no real verifier may.
      const key = createPublicKey({ key: jwks.keys[0], format: 'jwk' });
      const keyInput = { key, dsaEncoding: 'ieee-p1363' };
      const unauthorized = (res) => res.status(401).end();
      app.use((req, res, next) => {
        const header = req.headers.authorization;
        if (typeof header !== 'string' || !header.startsWith('Bearer ')) return unauthorized(res);
        const token = header.slice(7);
        const first = token.indexOf('.');
        const last = token.lastIndexOf('.');
        if (first === -1 || last === first) return unauthorized(res);
        let claims;
        try {
          claims = JSON.parse(Buffer.from(token.slice(first + 1, last), 'base64url').toString());
        } catch {
          return unauthorized(res);
        }
        const signingInput = Buffer.from(token.slice(0, last), 'latin1');
        const signature = Buffer.from(token.slice(last + 1), 'base64url');
        cryptoVerify('sha256', signingInput, keyInput, signature, (error, valid) => {
          if (
            error !== null ||
            !valid ||
            claims?.iss !== ISSUER ||
            claims.aud !== AUDIENCE ||
            !(claims.exp > Date.now() / 1000)
          )
            return unauthorized(res);
          req.auth = claims;
          next();
        });
      });
      app.get('/hello', floorReadScope, hello);
      break;
    }
    case 'jose-floor': {
      // The floor: parse the header, verify signature + iss + aud + exp with jose, check the scope.
      // No cache, no error classification, no principal object.
      const keySet = createLocalJWKSet(jwks);
      const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] };
      app.use(async (req, res, next) => {
        const header = req.headers.authorization;
        if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
          res.status(401).end();
          return;
        }
        try {
          const { payload } = await jwtVerify(header.slice(7), keySet, verifyOptions);
          req.auth = payload;
        } catch {
          res.status(401).end();
          return;
        }
        next();
      });
      app.get('/hello', floorReadScope, hello);
      break;
    }
    case 'peer': {
      // express-oauth2-jwt-bearer is CommonJS; its default export is module.exports.
      const { default: peer } = await import('express-oauth2-jwt-bearer');
      const jwksUri = await startJwksServer();
      // `issuer` + `jwksUri` skips OIDC discovery. An http: jwksUri is fine: its bundled jose 4
      // fetches http: and https: alike (only `mcd` issuer URLs are refused over http in production).
      app.use(peer.auth({ issuer: ISSUER, audience: AUDIENCE, jwksUri, tokenSigningAlg: 'ES256' }));
      app.get('/hello', peer.requiredScopes('read'), hello);
      // Its errors carry `status` and `headers` (WWW-Authenticate) for Express's default handler,
      // which would also print each stack to stderr; answer the same way, quietly. Only the
      // sanity checks ever get here: the measured requests all carry valid tokens.
      // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express spots error handlers by their four parameters
      app.use((error, _req, res, _next) => {
        res
          .status(error.status ?? 500)
          .set(error.headers ?? {})
          .end();
      });
      break;
    }
    case 'introspection':
    case 'introspection-redis':
    case 'introspection-call':
    case 'introspection-replica': {
      await introspectionApp(app, name);
      break;
    }
    default:
      throw new Error(`unknown variant ${String(name)}`);
  }
  return app;
}

const app = await buildApp(variant);
const server = app.listen(0, '127.0.0.1', () => {
  process.send({ type: 'ready', variant, port: server.address().port, pid: process.pid });
});
server.keepAliveTimeout = 65_000; // autocannon keeps its 50 connections open for the whole run

// run.mjs asks for CPU time before and after each measurement (to show the server core was the
// bottleneck), for the number of JWKS fetches and for the stub introspection endpoint's counts.
// profile.mjs starts and stops the V8 CPU profiler around a measurement (only then is the inspector
// session opened).
let session;
process.on('message', async (message) => {
  if (message?.type === 'profile-start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: message.intervalMicros ?? 500 });
    await session.post('Profiler.start');
    process.send({ type: 'profile-started', id: message.id });
  } else if (message?.type === 'profile-stop') {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(message.file, JSON.stringify(profile));
    process.send({ type: 'profile-stopped', id: message.id, file: message.file });
  } else if (message?.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send({
      type: 'stats',
      id: message.id,
      cpuMicros: cpu.user + cpu.system,
      jwksFetches,
      bearerRequests,
      redisErrors,
      introspection: {
        calls: introspection.calls,
        distinctTokens: introspection.tokens.size,
        refused: introspection.refused,
        inactive: introspection.inactive,
      },
      rssBytes: process.memoryUsage.rss(),
    });
  }
});
