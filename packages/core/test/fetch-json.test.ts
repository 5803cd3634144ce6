import assert from 'node:assert/strict';

import { createGuard } from '@bearer-guard/core';
import type { BearerGuard, GuardEventMap, SingleIssuerOptions } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { assertConfigError, rejection, startTinyServer } from './helpers.js';
import type { TinyServer } from './helpers.js';

/**
 * An outbound failure names its cause, in what `ready()` says and in the events' `error`: a
 * refused connection, an unresolvable host, a timeout after N ms, or the HTTP status. "request
 * failed" tells an operator nothing.
 */
describe('fetch-json: a discovery or JWKS failure names its cause', function () {
  let stub: AuthorizationServerStub;
  let hanging: TinyServer;
  let refusedOrigin: string;

  before(async function () {
    stub = await startAuthorizationServer({ algorithms: ['ES256'] });
    hanging = await startTinyServer(() => {
      // Never answers: the deadline must end the request.
    });
    const closed = await startTinyServer((_req, res) => res.end());
    refusedOrigin = closed.origin;
    await closed.close();
  });

  after(async function () {
    await hanging.close();
    await stub.close();
  });

  afterEach(function () {
    stub.setBehaviour('jwks', { mode: 'ok' });
    stub.setBehaviour('oauthMetadata', { mode: 'ok' });
    stub.setBehaviour('openidConfiguration', { mode: 'ok' });
  });

  interface Seen {
    guard: BearerGuard;
    keyFailures: GuardEventMap['keys.refresh_failed'][];
    discoveryFailures: GuardEventMap['discovery.failed'][];
  }

  function guardFor(options: Partial<SingleIssuerOptions>): Seen {
    const guard = createGuard({
      issuer: stub.issuer,
      audience: stub.audience,
      timeout: 2000,
      ...options,
    });
    const seen: Seen = { guard, keyFailures: [], discoveryFailures: [] };
    guard.on('keys.refresh_failed', (event) => seen.keyFailures.push(event));
    guard.on('discovery.failed', (event) => seen.discoveryFailures.push(event));
    return seen;
  }

  /** ready() fails naming every `mentions`, and so does the error of each event it emitted. */
  async function assertNamed(
    seen: Seen,
    event: 'keys.refresh_failed' | 'discovery.failed',
    ...mentions: string[]
  ): Promise<void> {
    assertConfigError(await rejection(seen.guard.ready()), 'ERR_BEARER_CONFIG_ISSUER_UNUSABLE', ...mentions);
    const events = event === 'keys.refresh_failed' ? seen.keyFailures : seen.discoveryFailures;
    assert.equal(events.length, 1, `one ${event} event`);
    const { error } = events[0]!;
    assert.ok(error instanceof Error);
    for (const mention of mentions) {
      assert.ok(
        error.message.includes(mention),
        `${event} error ${JSON.stringify(error.message)} should mention ${mention}`,
      );
    }
    assert.doesNotMatch(error.message, /request failed/);
  }

  describe('the key set (jwksUri)', function () {
    it('a refused connection says ECONNREFUSED and the address', async function () {
      const uri = `${refusedOrigin}/jwks`;
      const seen = guardFor({ jwksUri: uri });
      await assertNamed(
        seen,
        'keys.refresh_failed',
        uri,
        'ECONNREFUSED',
        refusedOrigin.slice('http://'.length),
      );
      // The system error is the cause, with its code, rather than undici's generic "fetch failed".
      const cause = seen.keyFailures[0]?.error as Error;
      assert.equal((cause.cause as { code?: unknown }).code, 'ECONNREFUSED');
    });

    // The issue: port 1, the usual "nothing listens there", said only "bad port".
    it('a port fetch refuses to connect to (Fetch standard port blocking) says so, naming the port', async function () {
      const seen = guardFor({ jwksUri: 'http://127.0.0.1:1/jwks' });
      await assertNamed(seen, 'keys.refresh_failed', 'http://127.0.0.1:1/jwks', 'never connects to port 1');
    });

    it('an unresolvable host says ENOTFOUND (RFC 6761: .invalid never resolves)', async function () {
      // A deadline of its own: a resolver that does not answer ends as a timeout, not a hang.
      this.timeout(5000);
      const seen = guardFor({ jwksUri: 'http://nonexistent.invalid/jwks', allowInsecureHttp: true });
      await assertNamed(seen, 'keys.refresh_failed', 'http://nonexistent.invalid/jwks', 'ENOTFOUND');
    });

    it('a server that does not answer in time says "timed out after N ms"', async function () {
      const seen = guardFor({ jwksUri: `${hanging.origin}/jwks`, timeout: 300 });
      const started = Date.now();
      await assertNamed(seen, 'keys.refresh_failed', `${hanging.origin}/jwks`, 'timed out after 300 ms');
      assert.ok(Date.now() - started < 3000);
    });

    it('an HTTP error says the status and the URL', async function () {
      stub.setBehaviour('jwks', { mode: 'fail', status: 500 });
      const seen = guardFor({ jwksUri: stub.jwksUri });
      await assertNamed(seen, 'keys.refresh_failed', `${stub.jwksUri}: HTTP 500`);
    });
  });

  describe('discovery (no jwksUri)', function () {
    it('a refused connection says ECONNREFUSED', async function () {
      const seen = guardFor({ issuer: refusedOrigin });
      await assertNamed(seen, 'discovery.failed', refusedOrigin, 'connect ECONNREFUSED');
    });

    it('an unresolvable host says ENOTFOUND', async function () {
      this.timeout(5000);
      const seen = guardFor({ issuer: 'http://nonexistent.invalid', allowInsecureHttp: true });
      await assertNamed(seen, 'discovery.failed', 'http://nonexistent.invalid', 'ENOTFOUND');
    });

    it('a server that does not answer in time says "timed out after N ms"', async function () {
      const seen = guardFor({ issuer: hanging.origin, timeout: 300 });
      await assertNamed(seen, 'discovery.failed', 'timed out after 300 ms');
    });

    it('an HTTP error at both well-known locations names each status and URL', async function () {
      stub.setBehaviour('oauthMetadata', { mode: 'fail', status: 500 });
      stub.setBehaviour('openidConfiguration', { mode: 'fail', status: 502 });
      const seen = guardFor({});
      await assertNamed(
        seen,
        'discovery.failed',
        `${stub.oauthMetadataUrl}: HTTP 500`,
        `${stub.openidConfigurationUrl}: HTTP 502`,
      );
    });
  });
});
