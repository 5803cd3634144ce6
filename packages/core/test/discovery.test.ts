import assert from 'node:assert/strict';

import { createGuard, discoverAuthorizationServer, DiscoveryError } from '@bearer-guard/core';
import type { BearerGuard, GuardEventMap, SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub, StartAuthorizationServerOptions } from '@bearer-guard/testkit';

import {
  assertConfigError,
  discoveryCounters,
  rejection,
  rejectsWith,
  sleep,
  startTinyServer,
} from './helpers.js';

// A deadline that a loaded CI machine meets on the first request; tests of `hang` set 300 ms.
const LIMITS = { timeout: 2000, maxBytes: 512 * 1024, allowHttp: true };

describe('discovery: RFC 8414 / OpenID Connect metadata', function () {
  let stub: AuthorizationServerStub | undefined;
  let discovered: GuardEventMap['discovery.loaded'][];
  let discoveryFailures: GuardEventMap['discovery.failed'][];

  async function start(options: StartAuthorizationServerOptions = {}): Promise<AuthorizationServerStub> {
    stub = await startAuthorizationServer({ algorithms: ['ES256'], ...options });
    return stub;
  }

  /** A guard that finds its keys by discovery (no jwksUri), with fast machinery. */
  function guardFor(as: AuthorizationServerStub, extra: Partial<SingleIssuerOptions> = {}): BearerGuard {
    const guard = createGuard({
      issuer: as.issuer,
      audience: as.audience,
      timeout: 2000,
      jwksCache: { cooldown: 200, cacheMaxAge: 1000 },
      ...extra,
    });
    guard.on('discovery.loaded', (event) => discovered.push(event));
    guard.on('discovery.failed', (event) => discoveryFailures.push(event));
    return guard;
  }

  beforeEach(function () {
    discovered = [];
    discoveryFailures = [];
  });

  afterEach(async function () {
    await stub?.close();
    stub = undefined;
  });

  describe('discoverAuthorizationServer', function () {
    it('fetches RFC 8414 metadata with the issuer path inserted after the well-known prefix', async function () {
      const as = await start({ issuerPath: '/tenant-a' });
      assert.equal(as.oauthMetadataUrl, `${as.origin}/.well-known/oauth-authorization-server/tenant-a`);
      const metadata = await discoverAuthorizationServer(as.issuer, LIMITS);
      assert.equal(metadata.issuer, as.issuer);
      assert.equal(metadata.jwks_uri, as.jwksUri);
      assert.deepEqual(discoveryCounters(as), {
        jwks: 0,
        oauthMetadata: 1,
        openidConfiguration: 0,
        attackerJwks: 0,
      });
    });

    it('drops a terminating "/" of the issuer path before inserting (RFC 8414 §3.1)', async function () {
      const as = await start({ issuerPath: '/tenant-b/' });
      const metadata = await discoverAuthorizationServer(as.issuer, LIMITS);
      assert.equal(metadata.issuer, as.issuer);
      assert.equal(as.counters.oauthMetadata, 1);
      assert.equal(as.counters.openidConfiguration, 0);
    });

    it('falls back to openid-configuration when the RFC 8414 document is not there', async function () {
      const as = await start({ issuerPath: '/tenant-a', discovery: { oauthAuthorizationServer: false } });
      const metadata = await discoverAuthorizationServer(as.issuer, LIMITS);
      assert.equal(metadata.jwks_uri, as.jwksUri);
      assert.equal(as.counters.oauthMetadata, 1);
      assert.equal(as.counters.openidConfiguration, 1);
    });

    it('refuses metadata naming another issuer, without falling back', async function () {
      const as = await start({ metadata: { issuer: 'https://evil.example' } });
      const error = await rejection(discoverAuthorizationServer(as.issuer, LIMITS));
      assert.ok(error instanceof DiscoveryError);
      assert.equal(error.reason, 'issuer-mismatch');
      assert.equal(as.counters.openidConfiguration, 0);
    });

    it('requires the metadata issuer to be identical, not merely equivalent (RFC 8414 §3.3)', async function () {
      let origin = '';
      const server = await startTinyServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        // "http://127.0.0.1:PORT/" is the same URL as the configured "http://127.0.0.1:PORT", but not identical.
        res.end(JSON.stringify({ issuer: `${origin}/`, jwks_uri: `${origin}/jwks` }));
      });
      origin = server.origin;
      try {
        const error = await rejection(discoverAuthorizationServer(origin, LIMITS));
        assert.ok(error instanceof DiscoveryError);
        assert.equal(error.reason, 'issuer-mismatch');
        // And the identical spelling is accepted.
        const metadata = await discoverAuthorizationServer(`${origin}/`, LIMITS);
        assert.equal(metadata.jwks_uri, `${origin}/jwks`);
      } finally {
        await server.close();
      }
    });

    it('reports an unreachable server as unavailable, without trying the second location after a timeout', async function () {
      const as = await start();
      as.setBehaviour('oauthMetadata', { mode: 'hang' });
      const started = Date.now();
      const error = await rejection(discoverAuthorizationServer(as.issuer, { ...LIMITS, timeout: 300 }));
      assert.ok(Date.now() - started < 3000);
      assert.ok(error instanceof DiscoveryError);
      assert.equal(error.reason, 'unavailable');
      assert.equal(as.counters.openidConfiguration, 0);
    });
  });

  describe('through the guard', function () {
    it('discovers the JWKS of an issuer with a path (RFC 8414 path insertion)', async function () {
      const as = await start({ issuerPath: '/tenant-a' });
      const guard = guardFor(as);
      const principal = await guard.verify(await as.sign());
      assert.equal(principal.issuer, as.issuer);
      assert.deepEqual(discoveryCounters(as), {
        jwks: 1,
        oauthMetadata: 1,
        openidConfiguration: 0,
        attackerJwks: 0,
      });
      assert.deepEqual(discovered, [{ issuer: as.issuer, jwksUri: as.jwksUri }]);
    });

    it('falls back to openid-configuration when the oauth document is switched off', async function () {
      const as = await start({ discovery: { oauthAuthorizationServer: false } });
      await guardFor(as).verify(await as.sign());
      assert.deepEqual(discoveryCounters(as), {
        jwks: 1,
        oauthMetadata: 1,
        openidConfiguration: 1,
        attackerJwks: 0,
      });
    });

    it('discovers once: key-set refreshes reuse the metadata', async function () {
      const as = await start();
      const guard = guardFor(as);
      await guard.verify(await as.sign());
      await sleep(1100);
      await guard.verify(await as.sign());
      assert.equal(as.counters.jwks, 2);
      assert.equal(as.counters.oauthMetadata, 1);
    });

    it('metadata naming another issuer → 503 ERR_BEARER_DISCOVERY_UNAVAILABLE, and ready() → ISSUER_UNUSABLE', async function () {
      const as = await start({ metadata: { issuer: 'https://evil.example' } });
      const guard = guardFor(as);
      const error = await rejectsWith(guard.verify(await as.sign()), 'ERR_BEARER_DISCOVERY_UNAVAILABLE', 503);
      assert.equal(error.error, 'temporarily_unavailable');
      assert.ok(error.headers['Retry-After'] !== undefined);
      assert.equal(error.headers['WWW-Authenticate'], undefined);
      assert.ok(error.cause instanceof DiscoveryError);
      assert.equal(error.cause.reason, 'issuer-mismatch');
      assert.equal(as.counters.jwks, 0, 'the impostor metadata is not used');
      assert.equal(discoveryFailures.length, 1);

      const readyError = assertConfigError(
        await rejection(guardFor(as).ready()),
        'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
        as.issuer,
      );
      assert.ok(readyError.cause instanceof DiscoveryError);
    });

    it('metadata without jwks_uri → 503 ERR_BEARER_DISCOVERY_UNAVAILABLE', async function () {
      const as = await start({ metadata: { jwks_uri: undefined } });
      await rejectsWith(guardFor(as).verify(await as.sign()), 'ERR_BEARER_DISCOVERY_UNAVAILABLE', 503);
      assertConfigError(await rejection(guardFor(as).ready()), 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE');
    });

    // RFC 8414 §2 makes jwks_uri a URL and §6.1 requires TLS: a discovered jwks_uri passes the same
    // check as a configured `jwksUri`, and one that fails it is invalid metadata, like a missing one.
    // (Plain http on loopback passes: every other test here discovers the stub's http://127.0.0.1 URL.)
    describe('a jwks_uri that a configured `jwksUri` could not be', function () {
      const cases = [
        { label: 'plain http beyond loopback', jwksUri: 'http://jwks.example/jwks', shown: 'http://jwks.example/jwks', why: 'allowInsecureHttp' },
        { label: 'another scheme', jwksUri: 'ftp://jwks.example/jwks', shown: 'ftp://jwks.example/jwks', why: 'https' },
        { label: 'a relative URL', jwksUri: '/jwks', shown: '"/jwks"', why: 'absolute' },
        { label: 'a fragment', jwksUri: 'https://jwks.example/jwks#k', shown: 'https://jwks.example/jwks#k', why: 'fragment' },
        { label: 'a user name and password', jwksUri: 'https://user:s3cret@jwks.example/jwks', shown: 'https://jwks.example/jwks', why: 'user name or password' },
      ]; // prettier-ignore
      for (const { label, jwksUri, shown, why } of cases) {
        it(`${label} → 503 ERR_BEARER_DISCOVERY_UNAVAILABLE (invalid metadata), and ready() names it`, async function () {
          const as = await start({ metadata: { jwks_uri: jwksUri } });
          const error = await rejectsWith(
            guardFor(as).verify(await as.sign()),
            'ERR_BEARER_DISCOVERY_UNAVAILABLE',
            503,
          );
          assert.equal(error.error, 'temporarily_unavailable');
          assert.equal(error.headers['WWW-Authenticate'], undefined);
          assert.ok(error.cause instanceof DiscoveryError);
          assert.equal(error.cause.reason, 'invalid');
          assert.deepEqual(discoveryCounters(as), {
            jwks: 0,
            oauthMetadata: 1,
            openidConfiguration: 0,
            attackerJwks: 0,
          });

          const readyError = assertConfigError(
            await rejection(guardFor(as).ready()),
            'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
            as.issuer,
            'jwks_uri',
            shown,
            why,
          );
          assert.ok(readyError.cause instanceof DiscoveryError);
          assert.equal(readyError.cause.reason, 'invalid');
          assert.ok(!readyError.message.includes('s3cret'), 'a password in the URL is never repeated');
        });
      }

      it('accepts plain http beyond loopback with allowInsecureHttp, as for `jwksUri`', async function () {
        // RFC 6761 §6.4: `.invalid` never resolves, so the key set is unreachable (503 JWKS), not refused.
        const as = await start({ metadata: { jwks_uri: 'http://jwks.invalid/jwks' } });
        const error = await rejectsWith(
          guardFor(as, { allowInsecureHttp: true, timeout: 1000 }).verify(await as.sign()),
          'ERR_BEARER_JWKS_UNAVAILABLE',
          503,
        );
        assert.ok(!(error.cause instanceof DiscoveryError));
      });
    });

    for (const mode of ['fail', 'hang', 'garbage', 'html'] as const) {
      it(`discovery down (${mode}) → 503 ERR_BEARER_DISCOVERY_UNAVAILABLE, never 401`, async function () {
        const as = await start();
        as.setBehaviour('oauthMetadata', { mode });
        as.setBehaviour('openidConfiguration', { mode });
        const guard = guardFor(as, { timeout: 300 });
        for (const token of [await as.sign(), await as.bad.expired(), await as.bad.unknownKid()]) {
          await rejectsWith(guard.verify(token), 'ERR_BEARER_DISCOVERY_UNAVAILABLE', 503);
        }
        assert.equal(as.counters.jwks, 0);
        assert.ok(discoveryFailures.length >= 1);
        assertConfigError(
          await rejection(guardFor(as, { timeout: 300 }).ready()),
          'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
        );
      });
    }

    it('does not follow a redirect of the metadata', async function () {
      const as = await start();
      const target = `${as.origin}/.well-known/openid-configuration`;
      as.setBehaviour('oauthMetadata', { mode: 'redirect', location: target });
      as.setBehaviour('openidConfiguration', { mode: 'redirect', location: target });
      await rejectsWith(guardFor(as).verify(await as.sign()), 'ERR_BEARER_DISCOVERY_UNAVAILABLE', 503);
      assert.equal(as.counters.openidConfiguration, 1, 'only the guard’s own request, no redirected one');
    });

    it('retries discovery after a failure and recovers', async function () {
      const as = await start();
      as.setBehaviour('oauthMetadata', { mode: 'fail' });
      as.setBehaviour('openidConfiguration', { mode: 'fail' });
      const guard = guardFor(as);
      await rejectsWith(guard.verify(await as.sign()), 'ERR_BEARER_DISCOVERY_UNAVAILABLE', 503);
      as.setBehaviour('oauthMetadata', { mode: 'ok' });
      as.setBehaviour('openidConfiguration', { mode: 'ok' });
      await sleep(250);
      await guard.verify(await as.sign());
      assert.equal(discovered.length, 1);
    });

    it('refuses metadata over maxResponseBytes', async function () {
      const as = await start();
      as.setBehaviour('oauthMetadata', { mode: 'huge', bytes: 4096 });
      as.setBehaviour('openidConfiguration', { mode: 'huge', bytes: 4096 });
      await rejectsWith(
        guardFor(as, { maxResponseBytes: 2048 }).verify(await as.sign()),
        'ERR_BEARER_DISCOVERY_UNAVAILABLE',
        503,
      );
      // Under the cap the padded document is fine.
      await guardFor(as, { maxResponseBytes: 8192 }).verify(await as.sign());
    });
  });

  it('reports a refused connection as unavailable', async function () {
    const server = await startTinyServer((_req, res) => res.end());
    const issuer = server.origin;
    await server.close();
    const error = await rejection(discoverAuthorizationServer(issuer, LIMITS));
    assert.ok(error instanceof DiscoveryError);
    assert.equal(error.reason, 'unavailable');
  });
});
