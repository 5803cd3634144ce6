import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { createSigningKey, mintToken } from '../tokens.mjs';
const { privateKey, jwks } = await createSigningKey();
const token = await mintToken(privateKey, { jti: 'x' });
const variants = process.argv.slice(2);
const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10000; }; // µs (100 Hz)
const servers = {};
for (const v of variants) {
  const child = spawn('taskset', ['-c', '0', 'node', 'srv.mjs', v], { env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise(r => child.stdout.once('data', d => r(Number(String(d).trim()))));
  servers[v] = { child, opts: { url: `http://127.0.0.1:${port}/hello`, connections: 50, headers: { authorization: `Bearer ${token}` } } };
  await autocannon({ ...servers[v].opts, duration: 3 });
}
const res = Object.fromEntries(variants.map(v => [v, { us: [], rps: [] }]));
const N = Number(process.env.N ?? 15000);
for (let round = 0; round < Number(process.env.R ?? 8); round++) {
  for (const v of (round % 2 ? [...variants].reverse() : variants)) {
    const s = servers[v]; const c0 = cpu(s.child.pid);
    const r = await autocannon({ ...s.opts, amount: N });
    const c1 = cpu(s.child.pid);
    res[v].us.push((c1 - c0) / N); res[v].rps.push(r.requests.average);
  }
}
for (const v of variants) s => 0, servers[v].child.kill();
const med = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const b = res[variants[0]];
for (const v of variants) console.log(v.padEnd(10), 'cpu µs/req', med(res[v].us).toFixed(1), 'ratio', (med(b.us) / med(res[v].us)).toFixed(3), '| rps', med(res[v].rps).toFixed(0), (med(res[v].rps) / med(b.rps)).toFixed(3), '|', res[v].us.map(x => x.toFixed(0)).join(' '));
process.exit(0);
