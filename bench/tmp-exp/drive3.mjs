import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { createSigningKey, mintToken } from '../tokens.mjs';
const { privateKey, jwks } = await createSigningKey();
const token = await mintToken(privateKey, { jti: 'x' });
const variants = process.argv.slice(2);
const servers = {};
for (const v of variants) {
  const child = spawn('taskset', ['-c', '0', 'node', 'srv.mjs', v], { env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise(r => child.stdout.once('data', d => r(Number(String(d).trim()))));
  servers[v] = { child, opts: { url: `http://127.0.0.1:${port}/hello`, connections: 50, headers: { authorization: `Bearer ${token}` } } };
  await autocannon({ ...servers[v].opts, duration: 3 });
}
const res = Object.fromEntries(variants.map(v => [v, []]));
const D = Number(process.env.D ?? 1);
for (let round = 0; round < Number(process.env.R ?? 20); round++) {
  const order = [...variants].sort(() => Math.random() - 0.5);
  for (const v of order) {
    const r = await autocannon({ ...servers[v].opts, duration: D });
    res[v].push(r.requests.total / D);
  }
}
for (const v of variants) servers[v].child.kill();
const med = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const b = res[variants[0]];
for (const v of variants) {
  const ratios = res[v].map((x, i) => x / b[i]);
  console.log(v.padEnd(10), 'rps', med(res[v]).toFixed(0), 'ratio of medians', (med(res[v]) / med(b)).toFixed(3), 'median paired ratio', med(ratios).toFixed(3), 'min/max', Math.min(...ratios).toFixed(2), Math.max(...ratios).toFixed(2));
}
process.exit(0);
