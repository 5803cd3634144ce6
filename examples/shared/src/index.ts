export { ConfigError, EnvReader, isLoopbackHost } from './env.js';
export type { ConfigErrorClass, Env } from './env.js';
export { reportToLauncher } from './launcher.js';
export { runService } from './main.js';
export type { ServiceMain } from './main.js';
export { listen } from './server.js';
export type { ListenOptions, RunningServer } from './server.js';
export { createServiceApp } from './service-app.js';
export type { ServiceAppOptions } from './service-app.js';
export { metricsHandler } from './metrics.js';
export { propagationHeaders, requestLogging } from './request-log.js';
export {
  closeRedis,
  connectRedis,
  REDIS_KEY_PREFIX,
  REDIS_TIMEOUT_MS,
  redisRateLimitStore,
  sharedReplayStore,
} from './redis.js';
export type { RedisClient } from './redis.js';
