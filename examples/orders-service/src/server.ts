import { closeRedis, connectRedis, listen, type RunningServer } from '@bearer-guard/example-shared';
import { createApp } from './app.js';
import type { OrdersConfig } from './config.js';

/**
 * A listening orders service: `url` with the port actually bound (useful with port 0); `close()`
 * stops accepting connections and waits for requests in flight (at most 5 s, then cuts them).
 */
export type RunningOrdersService = RunningServer;

/**
 * Connect to Redis (with `config.redisUrl`), load the issuer's keys, then listen on `config.host:config.port`. Rejects, without listening, when
 * the issuer is unusable (wrong `AS_ISSUER`, authorization server down) or the port is taken.
 */
export async function start(config: OrdersConfig): Promise<RunningOrdersService> {
  const redis = config.redisUrl === undefined ? undefined : await connectRedis(config.redisUrl);
  try {
    const { app, ready } = createApp(config, { redis });
    await ready();
    return await listen(app, { ...config, release: () => closeRedis(redis) });
  } catch (error) {
    await closeRedis(redis);
    throw error;
  }
}
