// The stub introspection endpoint in a process of its own: `node bench/endpoint.mjs`, started by
// run.mjs pinned to core 1 (with the load generator and redis-server) for the `introspection-call`
// variant. Its work then runs outside the measured server, as the work of redis-server does for
// `introspection-redis`: the shared-store row compares what a Redis hit and an introspection call
// cost the replica itself, and neither side is charged the remote end's work.
//
// Messages in: { type: 'stats', id } -> { type: 'stats', id, calls, distinctTokens, refused, inactive, cpuMicros }

import { startIntrospectionServer } from './introspection-stub.mjs';

if (!process.send) throw new Error('endpoint.mjs is started by bench/run.mjs (it needs an IPC channel)');
process.on('disconnect', () => process.exit(0));
const jwks = JSON.parse(process.env.BENCH_JWKS ?? 'null');
if (!jwks) throw new Error('BENCH_JWKS is not set');

const { url, counts } = await startIntrospectionServer(jwks);
process.on('message', (message) => {
  if (message?.type !== 'stats') return;
  const cpu = process.cpuUsage();
  process.send({
    type: 'stats',
    id: message.id,
    calls: counts.calls,
    distinctTokens: counts.tokens.size,
    refused: counts.refused,
    inactive: counts.inactive,
    cpuMicros: cpu.user + cpu.system,
  });
});
process.send({ type: 'ready', url, pid: process.pid });
