import assert from 'node:assert/strict';
import { validateHeaderValue } from 'node:http';

import { BearerGuardError, bearerChallenge, quoteString } from '@bearer-guard/core';

/** Node's own check of a header value; throws ERR_INVALID_CHAR on what it would refuse to send. */
function assertSendable(value: string): void {
  assert.doesNotThrow(
    () => {
      validateHeaderValue('WWW-Authenticate', value);
    },
    `not a valid header value: ${JSON.stringify(value)}`,
  );
}

describe('www-authenticate: bearerChallenge / quoteString (RFC 6750 §3, RFC 9110 §5.6.4)', function () {
  describe('quoteString', function () {
    it('wraps plain text in double quotes', function () {
      assert.equal(quoteString('api'), '"api"');
      assert.equal(quoteString(''), '""');
    });

    it('escapes double quotes and backslashes as quoted-pairs', function () {
      assert.equal(quoteString('say "hi"'), String.raw`"say \"hi\""`);
      assert.equal(quoteString('C:\\dir'), String.raw`"C:\\dir"`);
      assert.equal(quoteString('\\"'), String.raw`"\\\""`);
      // A trailing backslash must not escape the closing quote.
      assert.equal(quoteString('x\\'), String.raw`"x\\"`);
    });

    it('drops CR, LF, NUL and other control characters (no response splitting), keeps HTAB', function () {
      assert.equal(quoteString('a\r\nSet-Cookie: s=1'), '"aSet-Cookie: s=1"');
      assert.equal(quoteString('a\u0000b\u0007c\u001fd\u007fe'), '"abcde"');
      assert.equal(quoteString('a\tb'), '"a\tb"');
    });

    it('keeps Latin-1 and replaces each character beyond it by one "?"', function () {
      assert.equal(quoteString('café'), '"café"');
      assert.equal(quoteString('Привет'), '"??????"');
      assert.equal(quoteString('a€b'), '"a?b"');
      // A character outside the BMP is one character, so one "?".
      assert.equal(quoteString('ok 😀'), '"ok ?"');
      // A lone surrogate is replaced too.
      assert.equal(quoteString('x\ud800y'), '"x?y"');
    });

    it('always yields a value Node accepts as a header', function () {
      const hostile = [
        '"\\\r\n\u0000',
        'a\r\n\r\nHTTP/1.1 200 OK',
        '\u2028\u2029\ufeff',
        '😀🔥',
        '\ud800',
        'x'.repeat(5000),
        String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i)),
      ];
      for (const value of hostile) assertSendable(quoteString(value));
    });
  });

  describe('bearerChallenge', function () {
    it('is the bare scheme without parameters', function () {
      assert.equal(bearerChallenge(), 'Bearer');
      assert.equal(bearerChallenge({}), 'Bearer');
      assert.equal(bearerChallenge({ realm: undefined, error: undefined }), 'Bearer');
    });

    it('joins parameters in the given order, each a quoted-string, and omits undefined ones', function () {
      assert.equal(bearerChallenge({ realm: 'api' }), 'Bearer realm="api"');
      assert.equal(
        bearerChallenge({
          realm: 'api',
          error: 'insufficient_scope',
          error_description: undefined,
          scope: 'orders:read orders:write',
        }),
        'Bearer realm="api", error="insufficient_scope", scope="orders:read orders:write"',
      );
      assert.equal(
        bearerChallenge({
          realm: 'api',
          resource_metadata: 'https://api.example/.well-known/oauth-protected-resource',
        }),
        'Bearer realm="api", resource_metadata="https://api.example/.well-known/oauth-protected-resource"',
      );
    });

    it('escapes hostile values so they stay inside their parameter', function () {
      const value = bearerChallenge({
        realm: 'evil", error="none',
        error_description: 'line1\r\nWWW-Authenticate: Basic\u0000 \\ end',
        scope: 'ж',
      });
      assert.equal(
        value,
        String.raw`Bearer realm="evil\", error=\"none", error_description="line1WWW-Authenticate: Basic \\ end", scope="?"`,
      );
      assertSendable(value);
    });

    it('refuses parameter names that are not RFC 9110 tokens', function () {
      for (const name of ['', 'bad name', 'a=b', 'a"', 'a,b', 'é', 'x\r\ny']) {
        assert.throws(() => bearerChallenge({ [name]: 'v' }), TypeError, JSON.stringify(name));
      }
      // A name is refused even when the rest is fine; an undefined value is skipped before the check.
      assert.throws(() => bearerChallenge({ realm: 'api', 'bad name': 'v' }), TypeError);
      assert.equal(bearerChallenge({ realm: 'api', 'bad name': undefined }), 'Bearer realm="api"');
    });
  });

  describe('BearerGuardError headers', function () {
    it('a missing token gets a bare challenge with the realm and no error (RFC 6750 §3.1)', function () {
      const error = new BearerGuardError('ERR_BEARER_TOKEN_MISSING');
      error.realm = 'api';
      assert.deepEqual(error.headers, { 'WWW-Authenticate': 'Bearer realm="api"' });
      assert.equal(error.status, 401);
      assert.equal(error.error, undefined);
    });

    it('an invalid token names the error and the fixed description', function () {
      const error = new BearerGuardError('ERR_BEARER_TOKEN_EXPIRED', { cause: new Error('internal detail') });
      error.realm = 'api';
      assert.deepEqual(error.headers, {
        'WWW-Authenticate':
          'Bearer realm="api", error="invalid_token", error_description="The access token expired."',
      });
      assert.deepEqual(error.toJSON(), {
        error: 'invalid_token',
        error_description: 'The access token expired.',
      });
      assert.equal(JSON.stringify(error).includes('internal detail'), false);
    });

    it('insufficient_scope names the required scope and resource_metadata comes last', function () {
      const error = new BearerGuardError('ERR_BEARER_INSUFFICIENT_SCOPE', { scope: 'a b' });
      error.realm = 'r"1';
      error.resourceMetadata = 'https://api.example/.well-known/oauth-protected-resource';
      const header = error.headers['WWW-Authenticate'];
      assert.equal(
        header,
        String.raw`Bearer realm="r\"1", error="insufficient_scope", error_description="The access token does not carry the scope this resource requires.", scope="a b", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`,
      );
      assertSendable(header);
      assert.equal(error.status, 403);
    });

    it('a 503 carries Retry-After and no challenge', function () {
      const error = new BearerGuardError('ERR_BEARER_JWKS_UNAVAILABLE', { retryAfter: 7 });
      error.realm = 'api';
      assert.deepEqual(error.headers, { 'Retry-After': '7' });
      assert.equal(error.status, 503);
      assert.equal(error.error, 'temporarily_unavailable');
      assert.equal(error.expose, false);
    });
  });
});
