import assert from 'node:assert/strict';
import { isInvalidTokenChallenge, parseWwwAuthenticate } from '../src/www-authenticate.js';

describe('WWW-Authenticate parsing (RFC 9110 §11.6.1)', () => {
  it('reads several challenges, quoted strings with commas and escapes, and token68', () => {
    assert.deepEqual(
      parseWwwAuthenticate(
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", ' +
          'Bearer realm="a, b", error="invalid_token", Negotiate YII=,Basic dXNlcg==',
      ),
      [
        { scheme: 'newauth', parameters: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
        { scheme: 'basic', parameters: { realm: 'simple' } },
        { scheme: 'bearer', parameters: { realm: 'a, b', error: 'invalid_token' } },
        { scheme: 'negotiate', parameters: {} },
        { scheme: 'basic', parameters: {} },
      ],
    );
  });

  it('stops at malformed input and keeps what it read', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer error="invalid_token", ="x"'), [
      { scheme: 'bearer', parameters: { error: 'invalid_token' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="unterminated'), [
      { scheme: 'bearer', parameters: { realm: 'unterminated' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate('"""'), []);
  });
});

describe('isInvalidTokenChallenge (RFC 6750 §3.1)', () => {
  const cases: [string | null, boolean][] = [
    ['Bearer error="invalid_token"', true],
    ['Bearer realm="api", error="invalid_token", error_description="The access token expired"', true],
    ['bearer ERROR=invalid_token', true],
    ['Basic realm="x", Bearer error="invalid_token"', true],
    ['Basic dXNlcjpwYXNz, Bearer error="invalid_token"', true],
    ['Bearer', false],
    ['Bearer realm="api"', false],
    ['Bearer error="insufficient_scope", scope="orders:write"', false],
    ['Bearer error="invalid_request"', false],
    ['Bearer realm="a, error=\\"invalid_token\\""', false],
    ['Basic realm="x", error="invalid_token"', false],
    ['DPoP error="invalid_token"', false],
    ['Bearer error="invalid_token_x"', false],
    [null, false],
  ];
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${String(expected)}`, () => {
      assert.equal(isInvalidTokenChallenge(header), expected);
    });
  }
});
