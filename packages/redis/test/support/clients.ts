/**
 * The Redis clients the stores are tested with: node-redis 6 and 5, ioredis 6 and 5 (the newest of
 * each major), and a plain `{ sendCommand }` over node-redis.
 */
import { Redis as Ioredis6 } from 'ioredis';
import { Redis as Ioredis5 } from 'ioredis-v5';
import { createClient as createClient6 } from 'redis';
import { createClient as createClient5 } from 'redis-v5';

import type { RedisClientLike } from '@bearer-guard/redis';

export interface TestClient {
  /** What the store is given. */
  readonly client: RedisClientLike;
  /** Send a command for the test itself (KEYS, GET, PTTL, CLIENT PAUSE…). */
  command(args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface ClientKind {
  readonly name: string;
  connect(url: string): Promise<TestClient>;
}

/** node-redis: reconnect quickly after a restart, and never give up. */
const nodeRedisOptions = (url: string) => ({
  url,
  socket: { reconnectStrategy: () => 50, connectTimeout: 2000 },
});

async function nodeRedis(
  client: ReturnType<typeof createClient6> | ReturnType<typeof createClient5>,
): Promise<TestClient> {
  client.on('error', () => undefined); // reconnections are expected in these tests
  await client.connect();
  return {
    client,
    command: (args) => client.sendCommand(args),
    close: async () => {
      if (client.isOpen) client.destroy();
      await Promise.resolve();
    },
  };
}

async function ioredis(client: Ioredis6 | Ioredis5): Promise<TestClient> {
  client.on('error', () => undefined);
  await client.connect();
  return {
    client,
    command: (args) => client.call(args[0]!, ...args.slice(1)),
    close: async () => {
      client.disconnect();
      await Promise.resolve();
    },
  };
}

const ioredisOptions = { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null } as const;

export const NODE_REDIS_6: ClientKind = {
  name: 'node-redis 6',
  connect: (url) => nodeRedis(createClient6(nodeRedisOptions(url))),
};

export const CLIENT_KINDS: readonly ClientKind[] = [
  NODE_REDIS_6,
  { name: 'node-redis 5', connect: (url) => nodeRedis(createClient5(nodeRedisOptions(url))) },
  { name: 'ioredis 6', connect: (url) => ioredis(new Ioredis6(url, ioredisOptions)) },
  { name: 'ioredis 5', connect: (url) => ioredis(new Ioredis5(url, ioredisOptions)) },
  {
    name: '{ sendCommand } over node-redis 6',
    connect: async (url) => {
      const inner = await nodeRedis(createClient6(nodeRedisOptions(url)));
      return { ...inner, client: { sendCommand: (args: string[]) => inner.command(args) } };
    },
  },
];

/** Wait until `client` answers PING again (after a restart), within 10 s. */
export async function reconnected(client: TestClient): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await client.command(['PING'])) === 'PONG') return;
    } catch (error) {
      if (Date.now() > until) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every key and value in Redis (SCAN, then GET or the type of non-strings). */
export async function dump(client: TestClient): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = (await client.command(['SCAN', cursor, 'COUNT', '1000'])) as [string, string[]];
    cursor = next;
    for (const key of keys) entries.set(key, String(await client.command(['GET', key])));
  } while (cursor !== '0');
  return entries;
}
