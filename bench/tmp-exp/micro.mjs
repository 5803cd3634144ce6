import crypto from 'node:crypto';
import { createSigningKey, mintToken } from '../tokens.mjs';
const { privateKey } = await createSigningKey();
const tokens = []; for (let i = 0; i < 2000; i++) tokens.push(await mintToken(privateKey, { jti: 'x' + i }));
console.log('len', tokens[0].length);
function bench(name, fn, n = 400000) {
  for (let i = 0; i < 50000; i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  console.log(name.padEnd(30), (Number(process.hrtime.bigint() - t) / n).toFixed(0), 'ns');
}
// fresh strings per call as the http parser makes
const fresh = (i) => (' ' + tokens[i % 2000]).slice(1);
const freshFlat = (i) => { const s = 'Bearer ' + tokens[i % 2000]; return s.slice(7); };
bench('fresh string', (i) => fresh(i).length);
bench('sha256 crypto.hash hex', (i) => crypto.hash('sha256', fresh(i), 'hex'));
bench('sha256 crypto.hash b64url', (i) => crypto.hash('sha256', fresh(i), 'base64url'));
bench('sha256 createHash', (i) => crypto.createHash('sha256').update(fresh(i)).digest('base64url'));
const m = new Map(tokens.map(t => [t, 1]));
bench('Map by string', (i) => m.get(fresh(i)));
bench('Map by string flat', (i) => m.get(freshFlat(i)));
bench('Date.now', () => Date.now());
