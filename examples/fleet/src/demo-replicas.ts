// The steps of `npm run demo` that need the fleet's replicas (`REDIS_URL`): what two replicas of a
// backend share through Redis, seen from outside. The demo acts as the gateway here (its client
// credentials, the development default unless GATEWAY_CLIENT_SECRET is set): only the gateway may
// get tokens for the backends.
import { createTokenClient } from '@bearer-guard/client';
import { closeRedis, connectRedis, REDIS_KEY_PREFIX, type RedisClient } from '@bearer-guard/example-shared';
import { createDpopProof, generateDpopKey } from '@bearer-guard/testkit';
import { AUDIENCES, DEV_SECRETS } from './config.js';

export interface ReplicaDemoOptions {
  issuer: string;
  /** The authorization server's own address (its `/metrics` counts the introspection calls). */
  authorizationServer: string;
  /** The two orders replicas: the first one's address is the service's one URL. */
  orders: readonly [string, string];
  /** The two FHIR replicas. */
  fhir: readonly [string, string];
  /** `FHIR_INTROSPECTION_CACHE_SECONDS`: how long a revocation may go unseen. */
  cacheSeconds: number;
  /** The number of the first step. */
  step: number;
  /** `REDIS_URL`: where the demo sees the first replica's answer arrive. */
  redisUrl: string;
}

/** Where the FHIR replicas keep their shared introspection answers (examples/fhir-service/src/app.ts). */
const CACHED_ANSWERS = `${REDIS_KEY_PREFIX}introspection:fhir-service:*`;

/** The number of introspection answers the FHIR replicas share in Redis. */
export async function cachedAnswers(redis: RedisClient): Promise<number> {
  let count = 0;
  for await (const keys of redis.scanIterator({ MATCH: CACHED_ANSWERS, COUNT: 100 })) count += keys.length;
  return count;
}

/**
 * Wait (at most 2 s) until Redis holds more than `known` answers. A replica writes its answer to
 * Redis before it answers (within the store's deadline), so this normally returns at once; it
 * covers a write that missed its deadline on a busy machine and landed just after.
 */
export async function answerShared(redis: RedisClient, known: number): Promise<void> {
  for (let waited = 0; waited < 2000 && (await cachedAnswers(redis)) <= known; waited += 20) await delay(20);
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function status(url: string, token: string): Promise<number> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/** The authorization server's count of introspection requests (`GET /metrics`). */
async function introspections(authorizationServer: string): Promise<number> {
  const response = await fetch(`${authorizationServer}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const match = /^authorization_server_requests_total\{endpoint="introspection"\} (\d+)$/m.exec(
    await response.text(),
  );
  if (match?.[1] === undefined) throw new Error('the authorization server does not count introspections');
  return Number(match[1]);
}

const gatewaySecret = (): string => process.env['GATEWAY_CLIENT_SECRET'] ?? DEV_SECRETS.GATEWAY_CLIENT_SECRET;

/**
 * One DPoP proof (RFC 9449), accepted by orders replica 1 and replayed to replica 2: refused there,
 * since both record proofs in one Redis replay store. Both replicas are the orders service at one
 * URL (`ORDERS_PUBLIC_URL`), so the proof's `htu` holds at either: only the replay store tells.
 */
async function dpopReplay(options: ReplicaDemoOptions): Promise<boolean> {
  const key = await generateDpopKey();
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    key.publicJwk,
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['verify'],
  );
  const asGateway = createTokenClient({
    issuer: options.issuer,
    clientId: 'gateway',
    clientSecret: gatewaySecret(),
    scope: 'orders:read',
    resource: process.env['ORDERS_AUDIENCE'] ?? AUDIENCES.orders,
    dpop: { privateKey: key.privateKey, publicKey },
  });
  const [first, second] = options.orders;
  const path = '/orders?patient=123';
  // A first call learns the server nonce (the client retries once with it).
  const warmup = await asGateway.fetch(`${first}${path}`, { signal: AbortSignal.timeout(10_000) });
  await warmup.arrayBuffer();
  const { access_token: token } = await asGateway.getToken();
  const proof = await createDpopProof(key, {
    htm: 'GET',
    htu: `${first}${path}`,
    accessToken: token,
    nonce: warmup.headers.get('dpop-nonce') ?? undefined,
  });
  const headers = { authorization: `DPoP ${token}`, dpop: proof };
  const send = async (base: string): Promise<Response> => {
    const response = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    return response;
  };
  const accepted = await send(first);
  const replayed = await send(second);
  const challenge = replayed.headers.get('www-authenticate');
  console.log(
    `\n${String(options.step)}. One DPoP proof, accepted by orders service 1 and replayed to orders service 2\n` +
      `GET ${first}${path} -> ${String(accepted.status)}\nGET ${second}${path} (the same proof) -> ${String(replayed.status)}` +
      (challenge === null ? '' : `\nWWW-Authenticate: ${challenge}`),
  );
  return accepted.status === 200 && replayed.status === 401;
}

/**
 * A DPoP proof replayed to the other orders replica (refused); one opaque token at both FHIR
 * replicas: introspected once (the answer is shared in Redis); then revoked at the authorization
 * server, and refused by both once the cache bound has passed. Returns whether every answer was
 * the expected one.
 */
export async function runReplicaSteps(options: ReplicaDemoOptions): Promise<boolean> {
  const replay = await dpopReplay(options);
  const { fhir } = options;
  const step = options.step + 1;
  const gateway = createTokenClient({
    issuer: options.issuer,
    clientId: 'gateway',
    clientSecret: gatewaySecret(),
  });
  const resource = process.env['FHIR_AUDIENCE'] ?? AUDIENCES.fhir;
  const { access_token: token } = await gateway.getToken({ scope: 'system/Observation.rs', resource });
  const at = (replica: 0 | 1): string => `${fhir[replica]}/Observation?patient=123`;

  const redis = await connectRedis(options.redisUrl);
  let first: number;
  let second: number;
  const before = await introspections(options.authorizationServer);
  try {
    const known = await cachedAnswers(redis);
    first = await status(at(0), token);
    await answerShared(redis, known);
    second = await status(at(1), token);
  } finally {
    await closeRedis(redis);
  }
  const calls = (await introspections(options.authorizationServer)) - before;
  console.log(
    `\n${String(step)}. One opaque token (as the gateway) at both FHIR replicas\n` +
      `GET ${at(0)} -> ${String(first)}\nGET ${at(1)} -> ${String(second)}\n` +
      `introspection requests at the authorization server: ${String(calls)}${calls === 1 ? ' (one for both replicas)' : ''}`,
  );

  await revoke(options.issuer, token);
  const wait = options.cacheSeconds * 1000 + 500;
  console.log(
    `\n${String(step + 1)}. The token revoked at the authorization server (RFC 7009); waiting ${String(wait / 1000)} s, the cache bound (FHIR_INTROSPECTION_CACHE_SECONDS)`,
  );
  await delay(wait);
  const after = [await status(at(0), token), await status(at(1), token)];
  console.log(
    `revoked token -> ${String(after[0])} at FHIR service 1, ${String(after[1])} at FHIR service 2`,
  );
  return replay && first === 200 && second === 200 && calls === 1 && after.every((code) => code === 401);
}

async function revoke(issuer: string, token: string): Promise<void> {
  const secret = gatewaySecret();
  const response = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`gateway:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`the revocation answered ${String(response.status)}`);
}
