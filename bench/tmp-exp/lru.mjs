import { LRUCache } from 'lru-cache';
const keys = Array.from({ length: 2000 }, (_, i) => 'k' + i + 'x'.repeat(40));
for (const ttl of [true, false]) {
  const c = new LRUCache({ max: 10000 });
  for (const k of keys) ttl ? c.set(k, { a: 1 }, { ttl: 3600000 }) : c.set(k, { a: 1 });
  for (let i = 0; i < 1e6; i++) c.get(keys[i % 2000]);
  const t = process.hrtime.bigint();
  for (let i = 0; i < 2e6; i++) c.get(keys[i % 2000]);
  console.log('ttl', ttl, Number(process.hrtime.bigint() - t) / 2e6, 'ns');
}
