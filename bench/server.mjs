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
//   otel         bearer-guard with @bearer-guard/otel enabled on an SDK MeterProvider (metrics).
//   otel-idle    bearer-guard with @bearer-guard/otel loaded but not enabled (no subscriber).
//   peer         express-oauth2-jwt-bearer auth() + requiredScopes('read'), keys from a JWKS URL.
//   introspection
//                authenticate() with RFC 7662 introspection only (no key source, `localJwts: false`) + requireScopes('read')
//                + errorHandler(): every token is validated by the introspection endpoint, then cached.
//
// bearer-guard and the peer fetch their keys from a tiny JWKS server on 127.0.0.1 inside this same
// process, so the key fetch is a real HTTP round trip; both cache the set for 10 minutes, longer
// than the run, so it happens once. The number of fetches is reported back to run.mjs.
//
// The introspection variant calls a tiny RFC 7662 endpoint on 127.0.0.1, also inside this process
// (so on the same pinned core): it checks the resource server's HTTP Basic credentials, verifies the
// token with jose against the bench JWK Set and answers `{ active: true, ...claims }` or
// `{ active: false }`. It counts the calls and the distinct tokens it saw; with the cache on for the
// whole run, run.mjs requires one call per distinct token.
//
// The public JWK Set comes in the BENCH_JWKS environment variable (JSON).

import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import express from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DPOP_PUBLIC_URL } from './dpop.mjs';
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

/** The resource server's credentials at the stub introspection endpoint (client_secret_basic). */
const INTROSPECTION_CLIENT = { id: 'bench-rs', secret: 'bench-rs-secret' };
const introspection = { calls: 0, refused: 0, inactive: 0, tokens: new Set() };

/** The client credentials of an `Authorization: Basic` header (RFC 6749 §2.3.1: form-encoded, then base64). */
function basicCredentials(header) {
  if (typeof header !== 'string' || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (value) => decodeURIComponent(value.replace(/\+/g, ' '));
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/**
 * A minimal RFC 7662 introspection endpoint on 127.0.0.1: `POST /introspect` with a form body
 * holding `token`, the caller authenticated with HTTP Basic. Resolves to its URL. The bench tokens
 * are JWTs, so "introspecting" one is verifying it with jose against the bench JWK Set.
 */
function startIntrospectionServer() {
  const keySet = createLocalJWKSet(jwks);
  const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], typ: 'at+jwt' };
  const send = (res, status, body, headers = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/introspect') {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      introspection.calls++;
      const client = basicCredentials(req.headers.authorization);
      if (client?.id !== INTROSPECTION_CLIENT.id || client.secret !== INTROSPECTION_CLIENT.secret) {
        introspection.refused++;
        send(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="introspection"' });
        return;
      }
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token');
      if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') || !token) {
        send(res, 400, { error: 'invalid_request' });
        return;
      }
      introspection.tokens.add(token);
      jwtVerify(token, keySet, verifyOptions).then(
        ({ payload }) => {
          send(res, 200, { active: true, ...payload, token_type: 'Bearer' });
        },
        () => {
          introspection.inactive++;
          send(res, 200, { active: false });
        },
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}/introspect`));
  });
}

const hello = (_req, res) => {
  res.json({ ok: true });
};

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
      app.get(
        '/hello',
        (req, res, next) => {
          const scope = req.auth.scope;
          if (typeof scope === 'string' && scope.split(' ').includes('read')) next();
          else res.status(403).end();
        },
        hello,
      );
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
    case 'introspection': {
      const { authenticate, requireScopes, errorHandler } = await import('@bearer-guard/express');
      const endpoint = await startIntrospectionServer();
      // No key source and `localJwts: false`: bearer-guard fetches no keys and introspects the
      // issuer's JWTs too. The bench tokens are JWTs of ISSUER, so after the routing check
      // (compact-jws.ts: canonical encoding, `iss` is ours) they take the code path of an opaque
      // token: introspection call, then the cache (keyed by the token's SHA-256), kept for up to an
      // hour here (`exp - now` bounds it anyway). A cache hit does not repeat the routing check.
      app.use(
        authenticate({
          issuer: ISSUER,
          audience: AUDIENCE,
          introspection: {
            clientId: INTROSPECTION_CLIENT.id,
            clientSecret: INTROSPECTION_CLIENT.secret,
            endpoint,
            cache: { maxSeconds: 3600 },
            localJwts: false,
          },
        }),
      );
      app.get('/hello', requireScopes('read'), hello);
      app.use(errorHandler());
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
