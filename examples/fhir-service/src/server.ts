import { closeRedis, connectRedis, listen, type RunningServer } from '@bearer-guard/example-shared';
import { createApp, type FhirAppOptions } from './app.js';
import type { FhirConfig } from './config.js';

/**
 * A listening FHIR service: `url` with the port actually bound (useful with port 0); `close()` stops
 * accepting connections and waits for requests in flight (at most 5 s, then cuts them).
 */
export type RunningFhirService = RunningServer;

/**
 * Connect to Redis (with `config.redisUrl`), discover the introspection endpoint and the
 * authorization server's metadata, then listen on
 * `config.host:config.port`. Rejects, without listening, when the issuer is unusable (wrong
 * `AS_ISSUER`, authorization server down) or the port is taken.
 */
export async function start(config: FhirConfig, options: FhirAppOptions = {}): Promise<RunningFhirService> {
  const redis = config.redisUrl === undefined ? undefined : await connectRedis(config.redisUrl);
  try {
    const { app, ready } = createApp(config, { ...options, redis });
    await ready();
    return await listen(app, { ...config, release: () => closeRedis(redis) });
  } catch (error) {
    await closeRedis(redis);
    throw error;
  }
}
