const p = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const dt = p.timeDeltas; const self = new Map(); const cnt = new Map();
for (let i = 0; i < p.samples.length; i++) cnt.set(p.samples[i], (cnt.get(p.samples[i]) || 0) + (dt[i] || 0));
const re = new RegExp(process.argv[3] || 'packages/|lru-cache');
for (const n of p.nodes) { const u = n.callFrame.url; if (!re.test(u)) continue;
  const k = n.callFrame.functionName + ' ' + u.replace(/.*node_modules\//, '').replace(/.*packages\//, '') + ':' + n.callFrame.lineNumber;
  self.set(k, (self.get(k) || 0) + (cnt.get(n.id) || 0)); }
[...self].sort((a, b) => b[1] - a[1]).slice(0, 30).forEach(([k, v]) => console.log((v / 1000).toFixed(0).padStart(6), 'ms', k));
