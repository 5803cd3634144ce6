// A real redis-server for the fleet's tests: @bearer-guard/redis's test helper (its own port on
// 127.0.0.1, nothing persisted), and the binary it finds, for tests that run a command of their own.
export {
  redisServerBinary,
  startRedisServer,
  type RedisServer,
} from '../../packages/redis/test/support/redis-server.js';
