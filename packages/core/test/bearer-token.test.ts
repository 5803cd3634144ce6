import assert from 'node:assert/strict';

import { extractBearerToken } from '@bearer-guard/core';
import type { ResourceRequest, TokenLocations } from '@bearer-guard/core';

import { assertBearerError, thrown } from './helpers.js';

const HEADER_ONLY: TokenLocations = { query: false, body: false };
const QUERY: TokenLocations = { query: true, body: false };
const BODY: TokenLocations = { query: false, body: true };
const ALL: TokenLocations = { query: true, body: true };

const FORM = 'application/x-www-form-urlencoded';

function withHeader(
  authorization: string | string[] | undefined,
  rest: Partial<ResourceRequest> = {},
): ResourceRequest {
  return { method: 'GET', ...rest, headers: { ...rest.headers, authorization } };
}

function malformed(request: ResourceRequest, locations: TokenLocations = HEADER_ONLY): void {
  const error = assertBearerError(
    thrown(() => extractBearerToken(request, locations)),
    'ERR_BEARER_HEADER_MALFORMED',
    400,
  );
  assert.equal(error.error, 'invalid_request');
}

describe('extractBearerToken (RFC 6750 §2)', function () {
  describe('Authorization header (§2.1)', function () {
    it('returns the b64token of a Bearer credential', function () {
      assert.equal(
        extractBearerToken(withHeader('Bearer abc.DEF-_~+/xyz=='), HEADER_ONLY),
        'abc.DEF-_~+/xyz==',
      );
    });

    it('matches the scheme case-insensitively', function () {
      for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
        assert.equal(extractBearerToken(withHeader(`${scheme} tok`), HEADER_ONLY), 'tok', scheme);
      }
    });

    it('accepts several spaces between scheme and token (1*SP)', function () {
      assert.equal(extractBearerToken(withHeader('Bearer    tok'), HEADER_ONLY), 'tok');
    });

    it('treats a missing header as no token', function () {
      assert.equal(extractBearerToken({ headers: {} }, HEADER_ONLY), undefined);
      assert.equal(extractBearerToken(withHeader(undefined), HEADER_ONLY), undefined);
    });

    it('treats other schemes (Basic, DPoP, Bearerish) as no bearer credentials, not an error', function () {
      for (const value of [
        'Basic dXNlcjpwYXNz',
        'DPoP eyJhbGciOi.x.y',
        'Digest username="a"',
        'Bearertok',
        'Bearer-Token abc',
        'Basic\tdXNlcjpwYXNz',
        'DPoP\teyJhbGciOi.x.y',
        '',
      ]) {
        assert.equal(extractBearerToken(withHeader(value), HEADER_ONLY), undefined, value);
      }
    });

    it('refuses a Bearer credential that is not exactly one b64token with 400 ERR_BEARER_HEADER_MALFORMED', function () {
      for (const value of [
        'Bearer',
        'bearer',
        'Bearer ',
        'Bearer a b',
        'Bearer a,b',
        'Bearer x, Basic y',
        'Bearer tök€n',
        'Bearer a"b',
        'Bearer a=b',
        'Bearer =abc',
        'Bearer a;b',
        'Bearer a\tb',
      ]) {
        malformed(withHeader(value));
      }
    });

    // RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ], and auth-scheme
    // is a token. A header whose scheme is Bearer but whose separator is not SP is a malformed Bearer
    // credential (400), not "no bearer credentials" (401).
    it('refuses "Bearer" followed by a tab or another non-token character with 400 ERR_BEARER_HEADER_MALFORMED', function () {
      for (const value of [
        'Bearer\ttok',
        'Bearer\t tok',
        'Bearer \ttok',
        'bearer\ttok',
        'BEARER\t\ttok',
        'Bearer\t',
        'Bearer,tok',
        'Bearer\u00a0tok',
      ]) {
        malformed(withHeader(value));
      }
    });

    it('refuses a header that arrives as an array', function () {
      malformed(withHeader(['Bearer a', 'Bearer b']));
    });
  });

  describe('query and form body (§2.2, §2.3)', function () {
    it('ignores query and body by default, even when they carry access_token', function () {
      const request: ResourceRequest = {
        method: 'POST',
        headers: { 'content-type': FORM },
        query: { access_token: 'fromquery' },
        body: { access_token: 'frombody' },
      };
      assert.equal(extractBearerToken(request, HEADER_ONLY), undefined);
      // With a header, the ignored locations do not count as a second method.
      assert.equal(
        extractBearerToken(
          { ...request, headers: { ...request.headers, authorization: 'Bearer h' } },
          HEADER_ONLY,
        ),
        'h',
      );
    });

    it('reads access_token from the query when enabled', function () {
      assert.equal(extractBearerToken({ headers: {}, query: { access_token: 'q.t' } }, QUERY), 'q.t');
      assert.equal(extractBearerToken({ headers: {}, query: { other: 'x' } }, QUERY), undefined);
      assert.equal(extractBearerToken({ headers: {} }, QUERY), undefined);
      // Express 5's query parser makes prototype-less objects.
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { access_token: 'n' });
      assert.equal(extractBearerToken({ headers: {}, query: bare }, QUERY), 'n');
    });

    it('does not read the query when only the body is enabled', function () {
      assert.equal(extractBearerToken({ headers: {}, query: { access_token: 'q' } }, BODY), undefined);
    });

    it('refuses a repeated (array-valued), empty or non-b64token access_token with 400', function () {
      malformed({ headers: {}, query: { access_token: ['a', 'b'] } }, QUERY);
      malformed({ headers: {}, query: { access_token: '' } }, QUERY);
      malformed({ headers: {}, query: { access_token: 'a b' } }, QUERY);
      malformed(
        { method: 'POST', headers: { 'content-type': FORM }, body: { access_token: ['a', 'b'] } },
        BODY,
      );
    });

    it('reads access_token from a form body only with the form content type and not with GET', function () {
      const post = (contentType: string | undefined, method = 'POST'): ResourceRequest => ({
        method,
        headers: contentType === undefined ? {} : { 'content-type': contentType },
        body: { access_token: 'b.t' },
      });
      assert.equal(extractBearerToken(post(FORM), BODY), 'b.t');
      assert.equal(extractBearerToken(post(`${FORM}; charset=UTF-8`), BODY), 'b.t');
      assert.equal(extractBearerToken(post('Application/X-WWW-Form-Urlencoded'), BODY), 'b.t');
      assert.equal(extractBearerToken(post(FORM, 'PUT'), BODY), 'b.t');
      assert.equal(extractBearerToken(post(FORM, 'GET'), BODY), undefined);
      assert.equal(extractBearerToken(post('application/json'), BODY), undefined);
      assert.equal(extractBearerToken(post('multipart/form-data; boundary=x'), BODY), undefined);
      assert.equal(extractBearerToken(post(undefined), BODY), undefined);
    });

    it('does not read the body when only the query is enabled', function () {
      const request: ResourceRequest = {
        method: 'POST',
        headers: { 'content-type': FORM },
        body: { access_token: 'b' },
      };
      assert.equal(extractBearerToken(request, QUERY), undefined);
    });

    it('refuses a token sent by more than one method with 400 ERR_BEARER_MULTIPLE_METHODS', function () {
      const cases: ResourceRequest[] = [
        { headers: { authorization: 'Bearer h' }, query: { access_token: 'q' } },
        {
          method: 'POST',
          headers: { authorization: 'Bearer h', 'content-type': FORM },
          body: { access_token: 'b' },
        },
        {
          method: 'POST',
          headers: { 'content-type': FORM },
          query: { access_token: 'q' },
          body: { access_token: 'b' },
        },
        // The same token twice is still two methods.
        { headers: { authorization: 'Bearer same' }, query: { access_token: 'same' } },
      ];
      for (const request of cases) {
        const error = assertBearerError(
          thrown(() => extractBearerToken(request, ALL)),
          'ERR_BEARER_MULTIPLE_METHODS',
          400,
        );
        assert.equal(error.error, 'invalid_request');
      }
    });

    it('still refuses a malformed header when other locations are enabled', function () {
      malformed({ headers: { authorization: 'Bearer a b' }, query: { access_token: 'q' } }, ALL);
    });
  });
});
