import crypto from 'node:crypto';
import express from 'express';
import http from 'node:http';
import { AUDIENCE, ISSUER } from '../tokens.mjs';
const variant = process.argv[2];
const jwks = JSON.parse(process.env.BENCH_JWKS);
const hello = (_req, res) => { res.json({ ok: true }); };
const app = express();
const noop = (_req, _res, next) => next();
if (variant.startsWith('bare')) app.get('/hello', hello);
else if (variant === 'noop2') { app.use(noop); app.get('/hello', noop, hello); }
else if (variant === 'noop3') { app.use(noop); app.get('/hello', noop, hello); app.use((e,q,r,n)=>n(e)); }
else if (variant === 'jf') {
  const { createLocalJWKSet, jwtVerify } = await import('jose');
  const keySet = createLocalJWKSet(jwks);
  const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] };
  app.use(async (req, res, next) => {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) { res.status(401).end(); return; }
    try { const { payload } = await jwtVerify(header.slice(7), keySet, verifyOptions); req.auth = payload; }
    catch { res.status(401).end(); return; }
    next();
  });
  app.get('/hello', (req, res, next) => { const scope = req.auth.scope; if (typeof scope === 'string' && scope.split(' ').includes('read')) next(); else res.status(403).end(); }, hello);
}
else if (variant.startsWith('bg')) {
  const body = JSON.stringify(jwks);
  const js = http.createServer((q, r) => { r.writeHead(200, {'content-type':'application/json'}); r.end(body); });
  await new Promise(r => js.listen(0, '127.0.0.1', r));
  const jwksUri = `http://127.0.0.1:${js.address().port}/jwks`;
  const { authenticate, requireScopes, errorHandler } = await import('@bearer-guard/express');
  if (variant !== 'bgtimed') app.use(authenticate({ issuer: ISSUER, audience: AUDIENCE, jwksUri, algorithms: ['ES256'], ...(variant === 'bgnocache' ? { tokenCache: false } : variant === 'bgfirst' ? { tokenCache: { admission: 'first-use' } } : {}) }));
  if (variant === 'bgtimed') {
    const mw = authenticate({ issuer: ISSUER, audience: AUDIENCE, jwksUri, algorithms: ['ES256'] });
    let total = 0n, n = 0;
    const g = mw.guard; const MAP = new Map(); const T = [0n,0n,0n,0n]; let m = 0;
    app.use((req, res, next) => {
      const t0 = process.hrtime.bigint(); const h = req.headers.authorization;
      const t1 = process.hrtime.bigint(); const tok = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(h)[1];
      const t2 = process.hrtime.bigint(); const d = crypto.hash('sha256', tok, 'base64url');
      const t3 = process.hrtime.bigint(); const mg = MAP.get(tok) ?? MAP.set(tok, 1);
      const t4 = process.hrtime.bigint();
      T[0] += t1 - t0; T[1] += t2 - t1; T[2] += t3 - t2; T[3] += t4 - t3; m++;
      if (m % 20000 === 0) { console.error('headers', Number(T[0]) / 20000, 'regex', Number(T[1]) / 20000, 'hash', Number(T[2]) / 20000, 'map', Number(T[3]) / 20000); T.fill(0n); }
      next();
    });
    app.use((req, res, next) => { const t = process.hrtime.bigint(); mw(req, res, (e) => { total += process.hrtime.bigint() - t; n++; if (n % 20000 === 0) { console.error('avg ns', Number(total) / 20000); total = 0n; } next(e); }); });
    app.get('/hello', requireScopes('read'), hello);
  } else
  if (variant === 'bg' || variant === 'bgnocache' || variant === 'bgfirst') app.get('/hello', requireScopes('read'), hello);
  else app.get('/hello', hello);
  app.use(errorHandler());
}
const server = app.listen(0, '127.0.0.1', () => { console.log(server.address().port); });
server.keepAliveTimeout = 65000;
