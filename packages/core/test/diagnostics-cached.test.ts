import assert from 'node:assert/strict';
import { tracingChannel } from 'node:diagnostics_channel';

import { BearerGuardError, CHANNELS, createGuard, type AuthenticateMessage } from '@bearer-guard/core';

/**
 * `authenticateCached()` is a fast path that throws for what it can refuse at once, so a caller
 * that gets a refusal there never calls `authenticate()`: the refusal must be published there.
 */
describe('diagnostics: authenticateCached() publishes its refusals', function () {
  it('a malformed Authorization header refused by authenticateCached() is one rejected authentication, as by authenticateNow()', function () {
    const seen: [string, AuthenticateMessage][] = [];
    const traced = tracingChannel<AuthenticateMessage>(CHANNELS.authenticate);
    const record = (event: string) => (message: AuthenticateMessage) => {
      seen.push([event, { ...message }]);
    };
    const noop = (): void => undefined;
    const handlers = {
      start: record('start'),
      error: record('error'),
      end: record('end'),
      asyncStart: noop,
      asyncEnd: noop,
    };
    traced.subscribe(handlers);
    try {
      const guard = createGuard({
        issuer: 'https://as.example',
        audience: 'https://orders.example',
        jwksUri: 'https://as.example/jwks',
      });
      const malformed = { method: 'GET', url: '/orders', headers: { authorization: 'Bearer ' } };
      for (const answer of [
        () => guard.authenticateCached(malformed),
        () => guard.authenticateNow(malformed),
      ]) {
        seen.length = 0;
        assert.throws(answer, (error: unknown) => {
          return error instanceof BearerGuardError && error.code === 'ERR_BEARER_HEADER_MALFORMED';
        });
        assert.deepEqual(
          seen.map(([event]) => event),
          ['start', 'error', 'end'],
        );
        const ended = seen[2];
        assert.ok(ended !== undefined);
        assert.equal(ended[1].outcome, 'rejected');
        assert.equal(ended[1].code, 'ERR_BEARER_HEADER_MALFORMED');
      }
    } finally {
      traced.unsubscribe(handlers);
    }
  });
});
