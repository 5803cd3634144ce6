import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { createSigningKey, mintMany } from '../tokens.mjs';
const { privateKey, jwks } = await createSigningKey();
const variants = process.argv.slice(2);
const R = Number(process.env.R ?? 8), D = Number(process.env.D ?? 2);
const perVariant = 2000;
const pools = {};
const shared = await mintMany(privateKey, perVariant, 'rot'); for (const v of variants) pools[v] = { tokens: shared, i: 0 };
const servers = {};
const run = async (v, duration) => {
  const pool = pools[v];
  const r = await autocannon({ url: `http://127.0.0.1:${servers[v].port}/hello`, connections: 50, duration,
    requests: [{ setupRequest: (req) => { req.headers = { ...req.headers, authorization: `Bearer ${pool.tokens[pool.i++ % 2000]}` }; return req; } }] });
  if (r.non2xx) console.error('non2xx', v, r.non2xx);
  return r.requests.total / duration;
};
for (const v of variants) {
  const child = spawn('taskset', ['-c', '0', 'node', 'srv.mjs', v], { env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise(r => child.stdout.once('data', d => r(Number(String(d).trim()))));
  servers[v] = { child, port };
  await run(v, 3); await run(v, 3);
}
const res = Object.fromEntries(variants.map(v => [v, []]));
for (let round = 0; round < R; round++) for (const v of [...variants].sort(() => Math.random() - 0.5)) res[v].push(await run(v, D));
for (const v of variants) servers[v].child.kill();
const med = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const b = res[variants[0]];
for (const v of variants) { const ratios = res[v].map((x, i) => x / b[i]); console.log(v.padEnd(10), med(res[v]).toFixed(0), 'paired', med(ratios).toFixed(3), ratios.map(x => x.toFixed(2)).join(' ')); }
process.exit(0);
