const fs = require('fs');
function load(f) {
  const p = JSON.parse(fs.readFileSync(f, 'utf8'));
  const req = Number(fs.readFileSync(f.replace('.cpuprofile', '.txt'), 'utf8').match(/([\d,]+) requests/)[1].replace(/,/g, ''));
  const cnt = new Map(); for (let i = 0; i < p.samples.length; i++) cnt.set(p.samples[i], (cnt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0));
  const m = new Map();
  for (const n of p.nodes) { const k = n.callFrame.functionName + ' ' + n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*packages\//, '') + ':' + n.callFrame.lineNumber; m.set(k, (m.get(k) || 0) + (cnt.get(n.id) || 0) / req); }
  return m;
}
const a = load(process.argv[2]), b = load(process.argv[3]);
const keys = new Set([...a.keys(), ...b.keys()]);
const rows = [...keys].map(k => [k, (a.get(k) || 0) - (b.get(k) || 0), a.get(k) || 0, b.get(k) || 0]).sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
let tot = 0; for (const r of rows) tot += r[1];
console.log('total diff µs/req', tot.toFixed(1));
for (const r of rows.slice(0, 35)) console.log(r[1].toFixed(2).padStart(7), r[2].toFixed(2).padStart(7), r[3].toFixed(2).padStart(7), r[0]);
