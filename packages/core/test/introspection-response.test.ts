import assert from 'node:assert/strict';

import { checkIntrospectionClaims, createGuard } from '@bearer-guard/core';
import type { BearerErrorCode, BearerGuard } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { assertBearerError, nowSeconds, rejectsWith, thrown } from './helpers.js';

const ISSUER = 'https://as.example';
const AUDIENCE = 'https://api.example';
const CHECKS = { issuer: ISSUER, audiences: [AUDIENCE], acceptMissingAudience: false, clockTolerance: 5 };
/** The largest `exp` a Date can hold: 8.64e15 ms. */
const MAX_EXP = 8.64e12;

describe('introspection-response: checkIntrospectionClaims (RFC 7662 §2.2, §4)', function () {
  const now = nowSeconds();
  const check = (claims: Record<string, unknown>): void => {
    checkIntrospectionClaims({ active: true, iss: ISSUER, aud: AUDIENCE, ...claims }, CHECKS, now);
  };
  const refused = (claims: Record<string, unknown>, code: BearerErrorCode): void => {
    assertBearerError(
      thrown(() => {
        check(claims);
      }),
      code,
      401,
    );
  };

  describe('exp', function () {
    it('accepts a future exp, no exp, and exp at the largest Date', function () {
      check({ exp: now + 60 });
      check({});
      check({ exp: MAX_EXP });
    });

    // RFC 7519 §4.1.4 (which RFC 7662 §2.2 refers to): `exp` is a NumericDate. The same rule as for
    // JWTs: beyond the range of a Date (or NaN) it is an invalid claim, in the past it is expired.
    it('refuses an exp beyond the range of a Date, infinite or NaN with ERR_BEARER_TOKEN_CLAIM_INVALID', function () {
      for (const exp of [1e308, MAX_EXP + 1, Number.POSITIVE_INFINITY, Number.NaN]) {
        refused({ exp }, 'ERR_BEARER_TOKEN_CLAIM_INVALID');
      }
    });

    it('refuses a past exp, however negative, with ERR_BEARER_TOKEN_EXPIRED', function () {
      for (const exp of [now - 60, 0, -1, -(MAX_EXP + 1), Number.NEGATIVE_INFINITY]) {
        refused({ exp }, 'ERR_BEARER_TOKEN_EXPIRED');
      }
    });

    it('refuses an exp that is not a number with ERR_BEARER_TOKEN_CLAIM_INVALID', function () {
      for (const exp of ['1700000000', null, [now + 60]]) {
        refused({ exp }, 'ERR_BEARER_TOKEN_CLAIM_INVALID');
      }
    });
  });

  describe('string claims (RFC 7662 §2.2)', function () {
    it('accepts string sub, client_id, azp and username', function () {
      check({ sub: 'alice', client_id: 'app', azp: 'app', username: 'alice' });
    });

    it('refuses a sub, client_id, azp or username that is not a string with ERR_BEARER_TOKEN_CLAIM_INVALID', function () {
      for (const claim of ['sub', 'client_id', 'azp', 'username']) {
        for (const value of [1, null, {}, ['x'], true])
          refused({ [claim]: value }, 'ERR_BEARER_TOKEN_CLAIM_INVALID');
      }
    });
  });

  describe('sender-constrained tokens (RFC 9449 §6, §7.1; RFC 8705 §3)', function () {
    const THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

    it('refuses cnf.jkt and cnf.x5t#S256, beside other members or not, with ERR_BEARER_TOKEN_SENDER_CONSTRAINED', function () {
      for (const cnf of [
        { jkt: THUMBPRINT },
        { 'x5t#S256': THUMBPRINT },
        { 'x5t#S256': THUMBPRINT, foo: 1 },
        { jkt: THUMBPRINT, 'x5t#S256': THUMBPRINT },
      ]) {
        refused({ cnf }, 'ERR_BEARER_TOKEN_SENDER_CONSTRAINED');
      }
    });

    it('refuses token_type DPoP (any case) with ERR_BEARER_TOKEN_SENDER_CONSTRAINED', function () {
      for (const tokenType of ['DPoP', 'dpop', 'DPOP']) {
        refused({ token_type: tokenType }, 'ERR_BEARER_TOKEN_SENDER_CONSTRAINED');
      }
    });

    it('accepts a cnf without a known confirmation method, and token_type Bearer in any case', function () {
      check({ cnf: { foo: 1 } });
      check({ cnf: {} });
      check({ token_type: 'bearer', cnf: { x5t: 'not the S256 thumbprint' } });
    });

    it('refuses a cnf that is not an object with ERR_BEARER_TOKEN_CLAIM_INVALID', function () {
      for (const cnf of ['jkt', null, [THUMBPRINT], 1]) {
        refused({ cnf }, 'ERR_BEARER_TOKEN_CLAIM_INVALID');
      }
    });

    it('still refuses another token_type with ERR_BEARER_TOKEN_TYPE_INVALID', function () {
      for (const tokenType of ['mac', 'N_A', 1]) {
        refused({ token_type: tokenType }, 'ERR_BEARER_TOKEN_TYPE_INVALID');
      }
    });
  });

  describe('through a guard and the testkit introspection endpoint', function () {
    let as: AuthorizationServerStub;

    before(async function () {
      as = await startAuthorizationServer({ algorithms: ['ES256'] });
    });

    after(async function () {
      await as.close();
    });

    afterEach(function () {
      as.setBehaviour('introspection', { mode: 'ok' });
    });

    function guard(): BearerGuard {
      return createGuard({
        issuer: as.issuer,
        audience: as.audience,
        timeout: 2000,
        introspection: { ...as.introspectionClient, endpoint: as.introspectionEndpoint, timeout: 2000 },
      });
    }

    it('refuses an active answer with exp 1e308 with 401 ERR_BEARER_TOKEN_CLAIM_INVALID, cached or not', async function () {
      const g = guard();
      const token = as.issueOpaqueToken({ exp: 1e308 });
      for (let i = 0; i < 2; i++) {
        const error = await rejectsWith(g.verify(token), 'ERR_BEARER_TOKEN_CLAIM_INVALID', 401);
        assert.equal(error.error, 'invalid_token');
      }
    });

    it('refuses an active answer with exp 1e999 (Infinity once parsed)', async function () {
      as.setBehaviour('introspection', {
        mode: 'json',
        body: `{"active":true,"iss":${JSON.stringify(as.issuer)},"aud":${JSON.stringify(as.audience)},"exp":1e999}`,
      });
      await rejectsWith(guard().verify('opaque-token'), 'ERR_BEARER_TOKEN_CLAIM_INVALID', 401);
    });

    it('accepts exp at the largest Date, with a valid expiresAt', async function () {
      const principal = await guard().verify(as.issueOpaqueToken({ exp: MAX_EXP }));
      assert.equal(principal.source, 'introspection');
      assert.equal(principal.expiresAt?.getTime(), MAX_EXP * 1000);
    });
  });
});
