/**
 * A replica in its own process, for the two-process tests: a guard on 127.0.0.1 with the Redis
 * stores, configured by argv (one JSON object). It prints `listening <url>` and runs until killed.
 */
import { createClient } from 'redis';

import { redisIntrospectionStore, redisReplayStore } from '@bearer-guard/redis';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { HMAC_KEY, startReplica } from './guards.js';

interface ReplicaConfig {
  redisUrl: string;
  as: Pick<
    AuthorizationServerStub,
    'issuer' | 'audience' | 'jwksUri' | 'introspectionEndpoint' | 'introspectionClient'
  >;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ReplicaConfig;
const redis = await createClient({ url: config.redisUrl }).connect();
const replica = await startReplica(config.as as AuthorizationServerStub, {
  introspectionStore: redisIntrospectionStore({ client: redis, hmacKey: HMAC_KEY }),
  replayStore: redisReplayStore({ client: redis }),
});
process.stdout.write(`listening ${replica.url}\n`);
process.on('SIGTERM', () => {
  void replica.close().then(() => {
    redis.destroy();
    process.exit(0);
  });
});
