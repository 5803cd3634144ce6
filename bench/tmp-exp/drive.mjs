import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { createSigningKey, mintToken } from '../tokens.mjs';
const { privateKey, jwks } = await createSigningKey();
const token = await mintToken(privateKey, { jti: 'x' });
const variants = process.argv.slice(2);
const res = Object.fromEntries(variants.map(v => [v, []]));
const dur = Number(process.env.D ?? 4);
for (let round = 0; round < Number(process.env.R ?? 3); round++) {
  for (const v of variants) {
    const child = spawn('taskset', ['-c', '0', 'node', 'srv.mjs', v], { env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) }, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise(r => child.stdout.once('data', d => r(Number(String(d).trim()))));
    const opts = { url: `http://127.0.0.1:${port}/hello`, connections: 50, headers: { authorization: `Bearer ${token}` } };
    await autocannon({ ...opts, duration: 2 });
    const r = await autocannon({ ...opts, duration: dur });
    if (r.non2xx) console.error('non2xx', v, r.non2xx);
    res[v].push(r.requests.average);
    child.kill();
    await new Promise(r => child.once('exit', r));
  }
}
const med = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = med(res[variants[0]]);
for (const v of variants) console.log(v.padEnd(8), med(res[v]).toFixed(0), (med(res[v]) / base).toFixed(3), res[v].map(x => x.toFixed(0)).join(' '));
