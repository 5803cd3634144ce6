/**
 * The signature check of a never-seen token must not wait on libuv's thread pool without bound:
 * the pool is shared with everything else in the process (fs, dns.lookup, zlib, crypto), and a
 * few stuck jobs there (a lookup to a resolver that does not answer, a read of a FIFO or a hung
 * network file system) must not make every cold token hang.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { authenticate, errorHandler } from '@bearer-guard/express';
import { createDpopProof, generateDpopKey, startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { TIMEOUT } from './support.js';

const POOL_SIZE = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);

/** Occupy every thread of libuv's pool with an `open` of a FIFO that has no writer. */
async function blockThreadPool(): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'bearer-guard-pool-'));
  const fifos = Array.from({ length: POOL_SIZE }, (_, i) => join(dir, `fifo-${String(i)}`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  const opens: Promise<FileHandle>[] = fifos.map((fifo) => open(fifo, 'r'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  return async () => {
    // O_RDWR never blocks on Linux and lets the pending readers' opens complete.
    const writers = fifos.map((fifo) => openSync(fifo, 'r+'));
    for (const handle of await Promise.all(opens)) await handle.close();
    for (const fd of writers) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  };
}

describe('signature checks and a busy libuv thread pool', function () {
  let as: AuthorizationServerStub;
  let server: Server;
  let base: string;

  for (const alg of ['ES256', 'RS256'] as const) {
    describe(alg, function () {
      beforeEach(async function () {
        as = await startAuthorizationServer({ algorithms: [alg] });
        const app = express();
        app.set('env', 'test');
        const middleware = authenticate({
          issuer: as.issuer,
          audience: as.audience,
          jwksUri: as.jwksUri,
          timeout: TIMEOUT,
          publicUrl: 'https://orders.example',
          dpop: {},
        });
        await middleware.ready();
        app.use(middleware);
        app.get('/orders', (_req, res) => {
          res.json({ ok: true });
        });
        app.use(errorHandler());
        server = createServer(app);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
      });

      afterEach(async function () {
        await new Promise((resolve) => server.close(resolve));
        await as.close();
      });

      it('answers a never-seen token (good and bad signature) while every pool thread is stuck', async function () {
        const warm = await as.sign({});
        const cold = await as.sign({ jti: 'cold' });
        const [head, body, signature] = cold.split('.') as [string, string, string];
        const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
        const forged = `${head}.${body}.${flipped}`;
        // The key is selected once, as on any busy server.
        assert.equal((await request(base).get('/orders').set('Authorization', `Bearer ${warm}`)).status, 200);
        const release = await blockThreadPool();
        try {
          const started = Date.now();
          const ok = await request(base).get('/orders').set('Authorization', `Bearer ${cold}`).timeout(3000);
          assert.equal(ok.status, 200);
          const bad = await request(base)
            .get('/orders')
            .set('Authorization', `Bearer ${forged}`)
            .timeout(3000);
          assert.equal(bad.status, 401);
          assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
          assert.ok(Date.now() - started < 2500, `took ${String(Date.now() - started)} ms`);
        } finally {
          await release();
        }
      });

      it('answers never-seen tokens that arrive one after another while the pool is stuck, each within its own wait', async function () {
        const warm = await as.sign({});
        assert.equal((await request(base).get('/orders').set('Authorization', `Bearer ${warm}`)).status, 200);
        const tokens = await Promise.all(
          Array.from({ length: 6 }, (_, i) => as.sign({ jti: `stagger-${String(i)}` })),
        );
        const release = await blockThreadPool();
        try {
          // One watchdog serves every check in flight: a check that starts while it is armed for an
          // older one must still be answered once its own wait ends, not forgotten.
          const answers = await Promise.all(
            tokens.map(async (token, i) => {
              await new Promise((resolve) => setTimeout(resolve, i * 35));
              const started = Date.now();
              const res = await request(base)
                .get('/orders')
                .set('Authorization', `Bearer ${token}`)
                .timeout(3000);
              return { status: res.status, ms: Date.now() - started };
            }),
          );
          for (const { status, ms } of answers) {
            assert.equal(status, 200);
            assert.ok(ms < 1500, `took ${String(ms)} ms`);
          }
        } finally {
          await release();
        }
      });

      it('answers a DPoP-bound request (the token cached, its proof never seen) while every pool thread is stuck', async function () {
        const key = await generateDpopKey();
        const token = await as.sign({ ...key.cnf });
        const proof = () =>
          createDpopProof(key, { htm: 'GET', htu: 'https://orders.example/orders', accessToken: token });
        const call = async (dpop: string) =>
          await request(base)
            .get('/orders')
            .set('Authorization', `DPoP ${token}`)
            .set('DPoP', dpop)
            .timeout(3000);
        for (let i = 0; i < 2; i++) assert.equal((await call(await proof())).status, 200);
        const fresh = await proof();
        const release = await blockThreadPool();
        try {
          const started = Date.now();
          assert.equal((await call(fresh)).status, 200);
          assert.equal((await call(fresh)).status, 401, 'a replay');
          assert.ok(Date.now() - started < 2500, `took ${String(Date.now() - started)} ms`);
        } finally {
          await release();
        }
      });
    });
  }
});
