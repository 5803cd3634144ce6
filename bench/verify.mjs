// The verify step alone: how fast can one JWS signature be checked on this platform?
//
// `npm run bench:verify` (= `taskset -c 0 node bench/verify.mjs`): for ES256, RS256, PS256 and
// EdDSA, 2,000 distinct signed access tokens are verified, round-robin, by
//   - jose 6 `compactVerify` (WebCrypto: each signature goes to libuv's pool and back),
//   - jose 6 `jwtVerify` (the same, plus jose's claim checks),
//   - node:crypto `crypto.verify` synchronously with a prepared KeyObject,
//   - node:crypto `crypto.verify` with a callback (libuv's pool, like WebCrypto),
//   - fast-jwt's synchronous verifier (node:crypto underneath, plus its claim checks, cache off).
// Asynchronous ones run with 50 verifications in flight (as under HTTP load) and one at a time.
// Everything runs on the cores the process is given: `taskset -c 0` puts the pool's threads on
// the same core as the main thread, which is how the HTTP benchmark runs its servers.
//
// Output: verifications per second of process CPU time, per implementation and algorithm, the
// median of BENCH_VERIFY_ROUNDS rounds (default 5) of BENCH_VERIFY_MS ms each (default 1000), in a
// new random order each round; and each one's ratio to jose's compactVerify.

import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { promisify } from 'node:util';
import { compactVerify, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createVerifier } from 'fast-jwt';

const ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 5);
const MS = Number(process.env.BENCH_VERIFY_MS ?? 1000);
const TOKENS = 2000;
const IN_FLIGHT = 50;
const ISSUER = 'https://as.example';
const AUDIENCE = 'https://api.example';

const verifyAsync = promisify(cryptoVerify);

/** node:crypto's parameters for each JWS algorithm (RFC 7518 §3). */
const NODE_PARAMS = {
  ES256: { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  RS256: { hash: 'sha256', options: {} },
  PS256: { hash: 'sha256', options: { padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 } },
  EdDSA: { hash: null, options: {} },
};

async function setUp(alg) {
  const { privateKey, publicKey } = await generateKeyPair(
    alg,
    alg === 'EdDSA' ? { extractable: true, crv: 'Ed25519' } : { extractable: true },
  );
  const jwk = await exportJWK(publicKey);
  const keyObject = createPublicKey({ key: jwk, format: 'jwk' });
  const tokens = await Promise.all(
    Array.from({ length: TOKENS }, (_, i) =>
      new SignJWT({ scope: 'read', client_id: 'bench-client' })
        .setProtectedHeader({ alg, typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('bench-user')
        .setIssuedAt()
        .setExpirationTime('1h')
        .setJti(String(i))
        .sign(privateKey),
    ),
  );
  const { hash, options } = NODE_PARAMS[alg];
  const split = (token) => {
    const dot = token.lastIndexOf('.');
    return [Buffer.from(token.slice(0, dot)), Buffer.from(token.slice(dot + 1), 'base64url')];
  };
  const fast = createVerifier({
    key: keyObject.export({ format: 'pem', type: 'spki' }),
    algorithms: [alg],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    cache: false,
  });
  const joseOptions = { algorithms: [alg] };
  return {
    tokens,
    impls: {
      'jose compactVerify': { async: true, run: (t) => compactVerify(t, publicKey, joseOptions) },
      'jose jwtVerify': {
        async: true,
        run: (t) => jwtVerify(t, publicKey, { ...joseOptions, issuer: ISSUER, audience: AUDIENCE }),
      },
      'node:crypto sync': {
        async: false,
        run: (t) => {
          const [data, signature] = split(t);
          if (!cryptoVerify(hash, data, { key: keyObject, ...options }, signature)) throw new Error('bad');
        },
      },
      'node:crypto async': {
        async: true,
        run: async (t) => {
          const [data, signature] = split(t);
          if (!(await verifyAsync(hash, data, { key: keyObject, ...options }, signature)))
            throw new Error('bad');
        },
      },
      'fast-jwt sync': { async: false, run: (t) => fast(t) },
    },
  };
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Verifications per CPU-second for `ms` of wall time. */
async function measure(impl, tokens, inFlight) {
  let done = 0;
  let next = 0;
  const deadline = performance.now() + MS;
  const cpu0 = cpuMs();
  if (!impl.async) {
    while (performance.now() < deadline) {
      for (let i = 0; i < 100; i++) impl.run(tokens[next++ % TOKENS]);
      done += 100;
    }
  } else {
    const lane = async () => {
      while (performance.now() < deadline) {
        await impl.run(tokens[next++ % TOKENS]);
        done++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
  }
  return done / ((cpuMs() - cpu0) / 1000);
}

const shuffle = (list) => {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const results = {};
for (const alg of Object.keys(NODE_PARAMS)) {
  const { tokens, impls } = await setUp(alg);
  const runs = [];
  for (const [name, impl] of Object.entries(impls)) {
    runs.push({ name: impl.async ? `${name} (x${IN_FLIGHT})` : name, impl, inFlight: IN_FLIGHT });
    if (impl.async) runs.push({ name: `${name} (x1)`, impl, inFlight: 1 });
  }
  for (const run of runs) await measure(run.impl, tokens, run.inFlight); // warm-up
  const rates = Object.fromEntries(runs.map((run) => [run.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const run of shuffle([...runs])) rates[run.name].push(await measure(run.impl, tokens, run.inFlight));
  }
  results[alg] = Object.fromEntries(Object.entries(rates).map(([name, list]) => [name, median(list)]));
}

const base = `jose compactVerify (x${IN_FLIGHT})`;
const names = Object.keys(results.ES256);
const algs = Object.keys(results);
const width = Math.max(...names.map((n) => n.length));
console.log(`verifications per CPU-second, median of ${ROUNDS} x ${MS} ms (ratio to ${base})`);
console.log(`${''.padEnd(width)}  ${algs.map((a) => a.padStart(16)).join('')}`);
for (const name of names) {
  const cells = algs.map((alg) => {
    const rate = results[alg][name];
    return `${Math.round(rate)} (${(rate / results[alg][base]).toFixed(2)})`.padStart(16);
  });
  console.log(`${name.padEnd(width)}  ${cells.join('')}`);
}
