// node-oidc-provider's storage adapter on Redis (node-redis), so grants, tokens, sessions and their
// revocations survive a restart and are shared by every authorization-server process that uses the
// same Redis. The interface is the provider's (upsert, find, findByUid, findByUserCode, consume,
// destroy, revokeByGrantId); its in-memory adapter is the model for the indexes kept here.
import { createClient } from 'redis';

/**
 * A node-redis client for the authorization server: `timeoutMs` is the deadline of every command
 * (`commandOptions.timeout`) and of the connection.
 */
function newClient(url: string, timeoutMs: number) {
  return createClient({
    url,
    socket: { connectTimeout: timeoutMs, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    commandOptions: { timeout: timeoutMs },
  });
}

/** Mark a record consumed if it is still there (Lua runs atomically on the server). */
const CONSUME_IF_PRESENT =
  "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'consumed', ARGV[1]) return 1 end return 0";

/** The node-redis client the adapter uses (see {@link connectAdapterClient}). */
export type RedisAdapterClient = ReturnType<typeof newClient>;

/** A node-oidc-provider adapter instance: one per model (`AccessToken`, `Grant`, `Session`, …). */
export interface OidcAdapter {
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** What the provider stores: a JSON object; these members are the ones the indexes read. */
export interface AdapterPayload {
  grantId?: string;
  userCode?: string;
  uid?: string;
  consumed?: number;
  [member: string]: unknown;
}

/**
 * The models whose records belong to a grant: `revokeByGrantId` (a revoked refresh token, a code
 * used twice, a grant revoked at the end of a session) deletes them all (RFC 6749 §4.1.2, §10.5).
 */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** Models the provider consumes (marks used): kept as a hash, so `consume` is one atomic HSET. */
const CONSUMABLE = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
  'PreAuthorizedCode',
]);

/** The key prefix used when none is given. */
export const DEFAULT_ADAPTER_PREFIX = 'bearer-guard-fleet:oidc:';

function parse(raw: string | null | undefined): AdapterPayload | undefined {
  if (raw === null || raw === undefined) return undefined;
  const value: unknown = JSON.parse(raw);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as AdapterPayload)
    : undefined;
}

/**
 * The `adapter` option of node-oidc-provider: a factory the provider calls once per model. Every
 * record is a Redis key `<prefix><model>:<id>` that expires with the record (`EX expiresIn`, the
 * lifetime the provider gives it); the grant index `<prefix>grant:<grantId>` is a set of record
 * keys that lives as long as its longest-lived member, and the `uid` (sessions) and `userCode`
 * (device flow) indexes map to an id for as long as their record.
 *
 * `client` is connected by the caller (and given a per-command `timeout`: every call has a
 * deadline); a Redis that fails answers the provider's request with its `server_error`.
 *
 * @example
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * new Provider(issuer, { adapter: redisAdapter(client) });
 */
export function redisAdapter(
  client: RedisAdapterClient,
  prefix = DEFAULT_ADAPTER_PREFIX,
): (model: string) => OidcAdapter {
  const grantKey = (grantId: string): string => `${prefix}grant:${grantId}`;
  const uidKey = (uid: string): string => `${prefix}uid:${uid}`;
  const userCodeKey = (userCode: string): string => `${prefix}userCode:${userCode}`;
  return (model) => {
    const key = (id: string): string => `${prefix}${model}:${id}`;
    const consumable = CONSUMABLE.has(model);

    const find = async (id: string): Promise<AdapterPayload | undefined> => {
      if (!consumable) return parse(await client.get(key(id)));
      const stored = await client.hGetAll(key(id));
      const payload = parse(stored['payload']);
      if (payload === undefined) return undefined;
      const consumed = stored['consumed'];
      return consumed === undefined ? payload : { ...payload, consumed: Number(consumed) };
    };

    const findBy = async (indexKey: string): Promise<AdapterPayload | undefined> => {
      const id = await client.get(indexKey);
      return id === null ? undefined : find(id);
    };

    return {
      async upsert(id, payload, expiresIn) {
        const ttl = typeof expiresIn === 'number' && expiresIn > 0 ? Math.ceil(expiresIn) : undefined;
        const multi = client.multi();
        const json = JSON.stringify(payload);
        if (consumable) {
          // A record re-saved is a new record: an old `consumed` must not survive it.
          multi.del(key(id)).hSet(key(id), 'payload', json);
          if (ttl !== undefined) multi.expire(key(id), ttl);
        } else {
          multi.set(key(id), json, ttl === undefined ? {} : { EX: ttl });
        }
        if (GRANTABLE.has(model) && typeof payload.grantId === 'string') {
          const index = grantKey(payload.grantId);
          multi.sAdd(index, key(id));
          // The index outlives none of its members by more than it must: extended, never shortened.
          if (ttl === undefined) multi.persist(index);
          else multi.expire(index, ttl, 'GT').expire(index, ttl, 'NX');
        }
        const indexTtl = ttl === undefined ? {} : { EX: ttl };
        if (model === 'Session' && typeof payload.uid === 'string')
          multi.set(uidKey(payload.uid), id, indexTtl);
        if (typeof payload.userCode === 'string') multi.set(userCodeKey(payload.userCode), id, indexTtl);
        await multi.exec();
      },
      find,
      findByUid: (uid) => findBy(uidKey(uid)),
      findByUserCode: (userCode) => findBy(userCodeKey(userCode)),
      async consume(id) {
        // HSET on a missing key would create a record without payload or TTL: only mark what
        // exists, in one atomic step (an EXISTS then an HSET lets an expiry or a destroy in between).
        await client.eval(CONSUME_IF_PRESENT, {
          keys: [key(id)],
          arguments: [String(Math.floor(Date.now() / 1000))],
        });
      },
      async destroy(id) {
        await client.del(key(id));
      },
      async revokeByGrantId(grantId) {
        const index = grantKey(grantId);
        const members = await client.sMembers(index);
        await client.del([...members, index]);
      },
    };
  };
}

/**
 * Connect to `url`; a Redis that cannot be reached at start-up fails the start (with a message
 * that does not repeat the URL, which may hold a password).
 */
export async function connectAdapterClient(url: string, timeoutMs = 2000): Promise<RedisAdapterClient> {
  const client = newClient(url, timeoutMs);
  // node-redis reports connection errors as events; without a listener they would crash the process.
  client.on('error', () => undefined);
  const failed = new Promise<never>((_resolve, reject) => {
    client.once('error', (error: unknown) => {
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
  try {
    await Promise.race([client.connect(), failed]);
  } catch (error) {
    client.destroy();
    throw new Error(
      `cannot reach Redis at REDIS_URL: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  return client;
}
