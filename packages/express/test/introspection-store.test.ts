import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { authenticate, MemoryIntrospectionStore } from '@bearer-guard/express';
import type {
  GuardEventMap,
  SingleIssuerOptions,
  IntrospectionCacheEntry,
  IntrospectionOptions,
  IntrospectionStore,
} from '@bearer-guard/express';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';
import express from 'express';
import request from 'supertest';

import { invalidToken, probe, SHORT_TIMEOUT, TIMEOUT } from './support.js';

const INACTIVE = 'The access token is not active.';

/** A shared store as a Redis client would be: asynchronous, and values go through JSON. */
class JsonStore implements IntrospectionStore {
  readonly entries = new Map<string, string>();
  async get(key: string): Promise<IntrospectionCacheEntry | undefined> {
    await Promise.resolve();
    const text = this.entries.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as IntrospectionCacheEntry);
  }
  async set(key: string, value: IntrospectionCacheEntry): Promise<void> {
    await Promise.resolve();
    this.entries.set(key, JSON.stringify(value));
  }
  async delete(key: string): Promise<void> {
    await Promise.resolve();
    this.entries.delete(key);
  }
}

/** A store whose `get` and `set` do what a test tells them (a failing or hostile shared store). */
class ScriptedStore implements IntrospectionStore {
  sets = 0;
  constructor(
    readonly script: {
      get?: (key: string) => unknown;
      set?: (key: string, value: IntrospectionCacheEntry) => unknown;
    },
  ) {}
  get(key: string): IntrospectionCacheEntry | undefined | Promise<IntrospectionCacheEntry | undefined> {
    return this.script.get?.(key) as IntrospectionCacheEntry | undefined;
  }
  set(key: string, value: IntrospectionCacheEntry): void | Promise<void> {
    this.sets += 1;
    return this.script.set?.(key, value) as void | Promise<void>;
  }
  delete(): void {
    // unused by the guard
  }
}

describe('authenticate() with token introspection: the cache store', function () {
  let as: AuthorizationServerStub;
  let other: AuthorizationServerStub;

  before(async function () {
    as = await startAuthorizationServer();
    other = await startAuthorizationServer();
  });

  after(async function () {
    await as.close();
    await other.close();
  });

  /** A guard in front of GET /orders, introspecting at `server`, with its events recorded. */
  function api(
    introspection: Partial<IntrospectionOptions> = {},
    options: Partial<SingleIssuerOptions> = {},
    server: AuthorizationServerStub = as,
  ) {
    const route = probe();
    const storeFailures: GuardEventMap['store.failed'][] = [];
    const failures: GuardEventMap['introspection.failed'][] = [];
    const app = express();
    app.set('env', 'test');
    const auth = authenticate({
      issuer: server.issuer,
      audience: server.audience,
      timeout: TIMEOUT,
      introspection: {
        clientId: server.introspectionClient.clientId,
        clientSecret: server.introspectionClient.clientSecret,
        endpoint: server.introspectionEndpoint,
        timeout: TIMEOUT,
        ...introspection,
      },
      ...options,
    });
    auth.guard.on('store.failed', (event) => storeFailures.push(event));
    auth.guard.on('introspection.failed', (event) => failures.push(event));
    app.use(auth);
    app.get('/orders', route.handler);
    // Express's own error handler: what would leak into a response without ours.
    return { app, route, storeFailures, failures };
  }

  const get = (app: express.Express, token: string) =>
    request(app)
      .get('/orders')
      .set('Authorization', `Bearer ${token}`)
      .timeout(TIMEOUT * 2);

  describe('is namespaced by issuer, endpoint and client', function () {
    const stores: [string, () => IntrospectionStore][] = [
      ['one MemoryIntrospectionStore', () => new MemoryIntrospectionStore(100)],
      ['one custom JSON store', () => new JsonStore()],
    ];
    for (const [label, makeStore] of stores) {
      it(`two issuers sharing ${label} never take each other's answers`, async function () {
        const store = makeStore();
        const a = api({ store });
        const b = api({ store }, {}, other);
        // The answer carries no `iss`: nothing in it says which server gave it.
        const token = as.issueOpaqueToken({ sub: 'alice', iss: undefined });
        const beforeB = other.counters.introspection;

        assert.equal((await get(a.app, token)).status, 200);
        assert.equal((await get(a.app, token)).status, 200, 'a hit at the issuer that answered');
        const res = await get(b.app, token);

        assert.equal(res.status, 401, 'issuer B has never issued it');
        assert.equal(res.headers['www-authenticate'], invalidToken(INACTIVE));
        assert.equal(other.counters.introspection - beforeB, 1, 'issuer B was asked');
        assert.equal(b.route.calls, 0);
        assert.equal(a.route.principals[0]?.issuer, as.issuer);
        assert.deepEqual(a.storeFailures, []);
        assert.deepEqual(b.storeFailures, []);
      });

      it(`two client ids at one issuer sharing ${label} each introspect for themselves`, async function () {
        const store = makeStore();
        const clientId = `second-resource-server-${label.replaceAll(' ', '-')}`;
        as.registerClient({ clientId, clientSecret: 'second-resource-server-secret' });
        const first = api({ store });
        const second = api({ store, clientId, clientSecret: 'second-resource-server-secret' });
        const token = as.issueOpaqueToken({ sub: 'alice' });
        const before = as.counters.introspection;

        assert.equal((await get(first.app, token)).status, 200);
        assert.equal((await get(second.app, token)).status, 200);
        assert.equal((await get(second.app, token)).status, 200);
        assert.equal((await get(first.app, token)).status, 200);

        assert.equal(as.counters.introspection - before, 2, 'one call per client, then hits');
        assert.equal(as.lastIntrospectionRequest?.clientId, clientId);
      });
    }

    it('never puts the token or the client secret in a key or an entry', async function () {
      const store = new JsonStore();
      const { app } = api({ store });
      const token = as.issueOpaqueToken();

      assert.equal((await get(app, token)).status, 200);
      await new Promise((resolve) => setImmediate(resolve));

      assert.equal(store.entries.size, 1);
      const [key = '', value = ''] = [...store.entries][0] ?? [];
      for (const secret of [token, as.introspectionClient.clientSecret]) {
        assert.ok(!key.includes(secret) && !value.includes(secret));
      }
      // SHA-256 of the namespace and the token: a digest, and not the plain digest of the token.
      assert.match(key, /^[\w-]{43}$/);
      assert.notEqual(key, createHash('sha256').update(token).digest('base64url'));
    });
  });

  describe('never fails a request when it fails', function () {
    // [label, what the store does]: each must answer 200 (introspected) and report store.failed.
    const brokenGets: [string, (key: string) => unknown][] = [
      [
        'throws',
        () => {
          throw new Error('connect ECONNREFUSED 10.1.2.3:6379');
        },
      ],
      ['rejects', () => Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:6379'))],
      ['answers a string', () => 'garbage'],
      ['answers { active: "true" }', () => ({ active: 'true', claims: { active: true } })],
      ['answers claims that are not an object', () => ({ active: true, claims: 'x' })],
      ['answers claims that are an array', () => Promise.resolve({ active: true, claims: [true] })],
      [
        'answers active claims of no context',
        () => ({ active: true, claims: { active: true, sub: 'mallory' } }),
      ],
      [
        'answers an object whose getters throw',
        () => ({
          get then(): never {
            throw new Error('hostile');
          },
        }),
      ],
    ];
    for (const [label, broken] of brokenGets) {
      it(`a get that ${label} is a miss: 200 and a store.failed event`, async function () {
        const store = new ScriptedStore({ get: broken });
        const { app, route, storeFailures } = api({ store });
        const before = as.counters.introspection;

        const res = await get(app, as.issueOpaqueToken({ sub: 'alice' }));

        assert.equal(res.status, 200);
        assert.doesNotMatch(res.text, /ECONNREFUSED|10\.1\.2\.3/);
        assert.equal(route.principals[0]?.subject, 'alice');
        assert.equal(as.counters.introspection - before, 1);
        assert.deepEqual(
          storeFailures.map((event) => [event.issuer, event.operation]),
          [[as.issuer, 'get']],
        );
        assert.ok(storeFailures[0]?.error instanceof Error);
      });
    }

    // A store that keeps what `set` gave it (so its answers are in our namespace, well formed) and
    // answers it back in a form we do not own: each must still answer 200, never a 500 that shows
    // the store's error text.
    const ownEntries: [string, (entry: IntrospectionCacheEntry) => unknown, boolean][] = [
      // [label, what the store answers, whether that is a miss reported by store.failed]
      ['frozen', (entry) => Object.freeze({ ...entry }), false],
      [
        'with a principal getter that throws',
        (entry) => ({
          ...entry,
          get principal(): never {
            throw new Error('ECONNRESET 10.1.2.3:6379');
          },
        }),
        true,
      ],
      [
        'with an exp getter that throws',
        (entry) => ({
          ...entry,
          claims: {
            ...(entry.active ? entry.claims : {}),
            get exp(): never {
              throw new Error('ECONNRESET 10.1.2.3:6379');
            },
          },
        }),
        true,
      ],
      [
        'as a proxy that throws on every claim but active',
        (entry) => ({
          ...entry,
          claims: new Proxy(entry.active ? entry.claims : {}, {
            get: (_target, name) => {
              if (name === 'active') return true;
              throw new Error('ECONNRESET 10.1.2.3:6379');
            },
          }),
        }),
        true,
      ],
    ];
    for (const [label, answer, miss] of ownEntries) {
      it(`a get that answers our own entry ${label}: 200, never 500`, async function () {
        const kept = new Map<string, IntrospectionCacheEntry>();
        const store = new ScriptedStore({
          get: (key) => {
            const entry = kept.get(key);
            return Promise.resolve(entry === undefined ? undefined : answer(entry));
          },
          set: (key, value) => {
            kept.set(key, JSON.parse(JSON.stringify(value)) as IntrospectionCacheEntry);
          },
        });
        const { app, route, storeFailures } = api({ store });
        const token = as.issueOpaqueToken({ sub: 'alice' });
        const before = as.counters.introspection;

        const responses = [await get(app, token), await get(app, token), await get(app, token)];

        assert.deepEqual(
          responses.map((res) => res.status),
          [200, 200, 200],
        );
        for (const res of responses) assert.doesNotMatch(res.text, /ECONNRESET|10\.1\.2\.3/);
        assert.deepEqual(
          route.principals.map((principal) => principal?.subject),
          ['alice', 'alice', 'alice'],
        );
        assert.equal(as.counters.introspection - before, miss ? 3 : 1);
        assert.deepEqual(
          storeFailures.map((event) => event.operation),
          miss ? ['get', 'get'] : [],
        );
      });
    }

    it('a get that never settles is a miss once the introspection timeout passes', async function () {
      const store = new ScriptedStore({ get: () => new Promise(() => undefined) });
      const { app, route, storeFailures } = api({ store, timeout: SHORT_TIMEOUT });
      const started = Date.now();

      const res = await get(app, as.issueOpaqueToken());

      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < TIMEOUT, 'bounded by the introspection timeout');
      assert.equal(route.calls, 1);
      assert.deepEqual(
        storeFailures.map((event) => event.operation),
        ['get'],
      );
      assert.match(String(storeFailures[0]?.error), /did not answer within 300 ms/);
    });

    const brokenSets: [string, () => unknown][] = [
      [
        'throws',
        () => {
          throw new Error('connect ECONNREFUSED 10.1.2.3:6379');
        },
      ],
      ['rejects', () => Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:6379'))],
    ];
    for (const [label, broken] of brokenSets) {
      it(`a set that ${label} is ignored: 200 and a store.failed event`, async function () {
        const store = new ScriptedStore({ get: () => undefined, set: broken });
        const { app, route, storeFailures } = api({ store });

        const res = await get(app, as.issueOpaqueToken());
        await new Promise((resolve) => setImmediate(resolve));

        assert.equal(res.status, 200);
        assert.doesNotMatch(res.text, /ECONNREFUSED/);
        assert.equal(route.calls, 1);
        assert.equal(store.sets, 1);
        assert.deepEqual(
          storeFailures.map((event) => [event.issuer, event.operation]),
          [[as.issuer, 'set']],
        );
      });
    }

    it('a replica answers only once its write landed, so another replica sharing the store finds it', async function () {
      // A shared store whose writes take a while to land (a Redis round trip on a busy network).
      const entries = new Map<string, IntrospectionCacheEntry>();
      const store = new ScriptedStore({
        get: (key) => Promise.resolve(entries.get(key)),
        set: (key, value) =>
          new Promise<void>((resolve) => {
            setTimeout(() => {
              entries.set(key, structuredClone(value));
              resolve();
            }, 100);
          }),
      });
      const first = api({ store });
      const second = api({ store });
      const token = as.issueOpaqueToken({ sub: 'alice' });
      const before = as.counters.introspection;

      assert.equal((await get(first.app, token)).status, 200);
      assert.equal((await get(second.app, token)).status, 200);

      assert.equal(as.counters.introspection - before, 1, 'one call for both replicas');
      assert.deepEqual(second.storeFailures, []);
    });

    it('a request arriving during a call joins it, even when its own read of the store would miss', async function () {
      // A shared store that reads at the moment it is asked and answers later (a Redis GET on a
      // slow link): a read sent before the first answer is written comes back as a miss after
      // that call has ended, and must not start a second call.
      const entries = new Map<string, IntrospectionCacheEntry>();
      const store = new ScriptedStore({
        get: (key) => {
          const snapshot = entries.get(key);
          return new Promise((resolve) => setTimeout(resolve, 300, snapshot));
        },
        set: (key, value) => {
          entries.set(key, structuredClone(value));
          return Promise.resolve();
        },
      });
      const { app } = api({ store });
      as.setBehaviour('introspection', { mode: 'slow', delayMs: 400 });
      try {
        const token = as.issueOpaqueToken({ sub: 'alice' });
        const before = as.counters.introspection;
        const first = get(app, token).then((res) => res.status);
        // While the first request's call is in flight (its read took 300 ms, its call takes 400).
        await new Promise((resolve) => setTimeout(resolve, 500));
        const second = get(app, token).then((res) => res.status);
        assert.deepEqual(await Promise.all([first, second]), [200, 200]);
        assert.equal(as.counters.introspection - before, 1, 'one call for both requests');
      } finally {
        as.setBehaviour('introspection', { mode: 'ok' });
      }
    });

    it('a set that never settles delays only the request that made the call, by the introspection timeout at most', async function () {
      const store = new ScriptedStore({ get: () => undefined, set: () => new Promise(() => undefined) });
      const { app, route, storeFailures } = api({ store, timeout: SHORT_TIMEOUT });

      const res = await get(app, as.issueOpaqueToken());

      assert.equal(res.status, 200);
      assert.equal(route.calls, 1);
      assert.deepEqual(
        storeFailures.map((event) => [event.operation, String(event.error)]),
        [['set', `Error: the store did not answer within ${String(SHORT_TIMEOUT)} ms`]],
      );
    });

    it('an inactive answer is still refused when the store fails: 401', async function () {
      const store = new ScriptedStore({
        get: () => Promise.reject(new Error('down')),
        set: () => {
          throw new Error('down');
        },
      });
      const { app, storeFailures } = api({ store });

      const res = await get(app, 'never-issued-token');

      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], invalidToken(INACTIVE));
      assert.deepEqual(
        storeFailures.map((event) => event.operation),
        ['get', 'set'],
      );
    });
  });
});
