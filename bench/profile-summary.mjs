// Summarise a V8 .cpuprofile (from `node --cpu-prof` or bench/profile.mjs): self time per
// function and per area, inclusive time of the heaviest functions.
// CLI: `node bench/profile-summary.mjs file.cpuprofile [requests]`.
//
// Only the main JavaScript thread is profiled. jose 6 verifies ECDSA through WebCrypto, which
// runs the signature math on libuv's thread pool: that cost does not appear here (it does appear in
// the server's CPU time in run.mjs), and the main thread shows it as (idle)/(program) time.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SPECIAL = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** Which part of the stack a call frame belongs to. */
function areaOf({ functionName, url }) {
  if (SPECIAL.has(functionName)) return functionName;
  if (!url) return 'V8 builtins / native';
  if (url.startsWith('node:internal/crypto') || url === 'node:crypto') return 'node:crypto (JS side)';
  if (url.startsWith('node:internal/deps/undici') || url.startsWith('node:internal/deps'))
    return 'node:internal deps';
  if (url.startsWith('node:')) return 'Node core (http, net, streams, …)';
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg === '@bearer-guard/core' || url.includes('/packages/core/')) return 'bearer-guard core';
  if (pkg === '@bearer-guard/express' || url.includes('/packages/express/')) return 'bearer-guard express';
  if (pkg === 'jose') return url.includes('express-oauth2-jwt-bearer') ? 'jose 4 (peer)' : 'jose';
  if (pkg === 'express-oauth2-jwt-bearer') return 'express-oauth2-jwt-bearer';
  if (pkg === 'lru-cache') return 'lru-cache';
  if (pkg) return 'Express & its deps';
  if (url.includes('/bench/')) return 'bench server';
  return 'other';
}

function shortUrl(url) {
  if (!url) return '';
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  return file.startsWith(ROOT) ? path.relative(ROOT, file) : file;
}

const keyOf = (frame) =>
  `${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;

/**
 * @param {string} file a .cpuprofile
 * @param {{ requests?: number, top?: number }} [options]
 * @returns {string} a plain-text report
 */
export function summariseProfile(file, { requests, top = 25 } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Time of sample i = gap to the next sample (DevTools' convention); the last runs to endTime.
  const { samples, timeDeltas } = profile;
  const times = [];
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    times.push(t);
  }
  const self = new Map();
  const inclusive = new Map();
  const areas = new Map();
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const micros = (i + 1 < samples.length ? times[i + 1] : profile.endTime) - times[i];
    if (micros <= 0) continue;
    total += micros;
    const leaf = nodes.get(samples[i]);
    const leafKey = keyOf(leaf.callFrame);
    self.set(leafKey, (self.get(leafKey) ?? 0) + micros);
    const area = areaOf(leaf.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + micros);
    // Inclusive: each function once per sample, however often it recurs on the stack.
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = nodes.get(id).callFrame;
      if (SPECIAL.has(frame.functionName)) continue;
      const key = keyOf(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    }
  }

  const pct = (micros) => `${((micros / total) * 100).toFixed(1).padStart(5)}%`;
  const ms = (micros) => `${(micros / 1000).toFixed(0).padStart(6)} ms`;
  const sorted = (map) => [...map.entries()].sort((a, b) => b[1] - a[1]);
  const out = [];
  out.push(
    `Profile ${path.basename(file)}: ${(total / 1e6).toFixed(2)} s of main-thread samples${requests ? `, ${requests.toLocaleString('en-US')} requests` : ''}`,
  );
  const busy = total - (areas.get('(idle)') ?? 0);
  if (requests)
    out.push(
      `  main thread busy ${((busy / total) * 100).toFixed(0)}%: ${(busy / requests).toFixed(1)} µs of JS/native main-thread time per request`,
    );
  out.push('', 'Self time by area');
  for (const [area, micros] of sorted(areas)) out.push(`  ${pct(micros)} ${ms(micros)}  ${area}`);
  out.push('', `Top ${top} functions by self time`);
  for (const [key, micros] of sorted(self).slice(0, top)) out.push(`  ${pct(micros)} ${ms(micros)}  ${key}`);
  out.push('', `Top ${top} functions by inclusive time`);
  for (const [key, micros] of sorted(inclusive).slice(0, top))
    out.push(`  ${pct(micros)} ${ms(micros)}  ${key}`);
  return `${out.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [file, requests] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [requests]');
    process.exit(1);
  }
  process.stdout.write(summariseProfile(file, { requests: requests ? Number(requests) : undefined }));
}
