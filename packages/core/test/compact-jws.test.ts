import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { createGuard } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import type { AuthorizationServerStub } from '@bearer-guard/testkit';

import { isCanonicalBase64url, readCompactToken } from '../src/compact-jws.js';
import { discoveryCounters, rejectsWith, thrown } from './helpers.js';

/** The module is internal (imported from src/), so its errors are src's class: compare codes. */
function assertMalformed(read: () => unknown, token: string): void {
  const error = thrown(read) as { code?: unknown; status?: unknown } | undefined;
  assert.equal(error?.code, 'ERR_BEARER_TOKEN_MALFORMED', token);
  assert.equal(error.status, 401);
}

const b64u = (text: string): string => Buffer.from(text).toString('base64url');
const HEADER = b64u('{"alg":"ES256","typ":"at+jwt"}');
const CLAIMS = b64u('{"iss":"https://as.example","sub":"alice"}');

/** The same bytes as `segment`, its last character changed in the pad bits only (RFC 4648 §3.5). */
function samePadBits(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(segment.at(-1) ?? 'A');
  return segment.slice(0, -1) + (alphabet[last ^ 1] ?? '');
}

/** Spellings of a JWS that a lenient decoder reads as (nearly) the same token. */
function respellings(token: string): string[] {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return [
    `${token}==`,
    `${token}=`,
    `${header}.${payload}.${samePadBits(signature)}`,
    `${header}==.${payload}.${signature}`,
    `${header}.${payload}==.${signature}`,
    `~${header}.${payload}.${signature}`,
    `${header}.${payload}.+${signature}`,
    `${header} .${payload}.${signature}`,
  ];
}

describe('compact-jws: what a token is, and one token, one encoding', function () {
  describe('isCanonicalBase64url (RFC 7515 §2, RFC 4648 §3.5 and §5)', function () {
    it('accepts the one encoding of some bytes, empty included', function () {
      for (let length = 0; length < 12; length++) {
        const bytes = Buffer.alloc(length, 0xff);
        assert.ok(isCanonicalBase64url(bytes.toString('base64url')), String(length));
      }
    });

    it('refuses padding, other alphabets, a lone trailing sextet and non-zero pad bits', function () {
      const one = Buffer.from([0xff]).toString('base64url'); // "_w": 4 pad bits
      const two = Buffer.from([0xff, 0xff]).toString('base64url'); // "__8": 2 pad bits
      for (const segment of [
        `${one}==`,
        `${two}=`,
        '+/+/',
        'ab.c',
        'ab~c',
        'ab c',
        'abcde',
        samePadBits(one),
        samePadBits(two),
        '_x',
        '__9',
      ]) {
        assert.equal(isCanonicalBase64url(segment), false, segment);
      }
    });
  });

  describe('readCompactToken', function () {
    it('reads a JWS with its (unverified) header and claims, the signing input and the signature', function () {
      assert.deepEqual(readCompactToken(`${HEADER}.${CLAIMS}.c2ln`), {
        kind: 'jws',
        header: { alg: 'ES256', typ: 'at+jwt' },
        claims: { iss: 'https://as.example', sub: 'alice' },
        signingInput: `${HEADER}.${CLAIMS}`,
        signature: 'c2ln',
      });
    });

    it('refuses a JOSE header or claims set that is not UTF-8 (as jose does), after the shape checks', function () {
      const notUtf8 = Buffer.from([0x7b, 0x22, 0x61, 0x6c, 0x67, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"alg":"\xff"}
      assert.throws(() => readCompactToken(`${notUtf8.toString('base64url')}.${CLAIMS}.c2ln`), {
        code: 'ERR_BEARER_TOKEN_MALFORMED',
      });
      const claims = Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d]); // {"s":"\xc3"}
      assert.throws(() => readCompactToken(`${HEADER}.${claims.toString('base64url')}.c2ln`), {
        code: 'ERR_BEARER_TOKEN_MALFORMED',
      });
    });

    it('reads a five-segment JOSE object as a JWE, empty encrypted key included (alg "dir")', function () {
      const header = b64u('{"alg":"dir","enc":"A256GCM"}');
      assert.deepEqual(readCompactToken(`${header}..aXY.Y3Q.dGFn`), { kind: 'jwe' });
    });

    it('takes for opaque what has no JSON object first segment: no dot, PASETO, random base64url', function () {
      for (const token of [
        'Rz3xY_eM0cU9kq1rS2tV4wX6yZ8aB0cD1eF2gH3iJ4k',
        'v4.public.eyJpc3MiOiJ4In0',
        'a.b.c',
        `${b64u('[1]')}.${CLAIMS}.c2ln`,
        `${b64u('"x"')}.${CLAIMS}.c2ln`,
        `.${CLAIMS}.c2ln`,
        'not-a-jwt',
      ]) {
        assert.deepEqual(readCompactToken(token), { kind: 'opaque' }, token);
      }
    });

    it('refuses every other spelling of a JWS, and headers only a lenient decoder reads', function () {
      const token = `${HEADER}.${CLAIMS}.${Buffer.alloc(64, 7).toString('base64url')}`;
      assert.equal(readCompactToken(token).kind, 'jws');
      for (const variant of [
        ...respellings(token),
        // Padding inside the header: a decoder that skips every "=" still reads a header there.
        `${HEADER.slice(0, 4)}=${HEADER.slice(4)}.${CLAIMS}.c2ln`,
      ]) {
        assertMalformed(() => readCompactToken(variant), variant);
      }
    });

    it('reads a shared header once: one frozen object for every token that carries it, each token still checked whole', function () {
      const header = b64u('{"alg":"ES256","typ":"at+jwt","kid":"k-share","x5c":["AA"]}');
      const first = readCompactToken(`${header}.${CLAIMS}.c2ln`);
      const second = readCompactToken(`${header}.${b64u('{"iss":"https://as.example","sub":"bob"}')}.c2ln`);
      assert.ok(first.kind === 'jws' && second.kind === 'jws');
      assert.equal(second.header, first.header);
      assert.deepEqual(second.claims, { iss: 'https://as.example', sub: 'bob' });
      // Shared between tokens, so nobody may change it for the next one.
      assert.ok(Object.isFrozen(first.header) && Object.isFrozen(first.header['x5c']));
      assert.equal(Reflect.set(first.header, 'alg', 'none'), false);
      assert.equal(second.header['alg'], 'ES256');
      // The rest of each token is checked as before: the known header vouches for nothing else.
      for (const token of [
        `${header}.${CLAIMS}`,
        `${header}.${CLAIMS}==.c2ln`,
        `${header}.${b64u('[1]')}.c2ln`,
        `${header}==.${CLAIMS}.c2ln`,
        `${samePadBits(header)}.${CLAIMS}.c2ln`,
      ]) {
        assertMalformed(() => readCompactToken(token), token);
      }
    });

    it('keeps no token alive for its header: a known header holds its segment, not the whole token it came in', function () {
      // V8's slice shares the parent string: a header kept by its sliced segment would keep the
      // first token with that header (a bearer credential, up to the size of an HTTP header) for
      // the life of the process. Checked in a fresh process from a heap snapshot (strings there
      // are cut at 1024 characters, hence the 800-character run).
      const script = `
        import { getHeapSnapshot } from 'node:v8';
        const { readCompactToken } = await import(${JSON.stringify(new URL('../dist/compact-jws.js', import.meta.url).href)});
        const b64u = (text) => Buffer.from(text).toString('base64url');
        (() => {
          const token = Buffer.from(
            b64u('{"alg":"ES256","kid":"k-retain"}') + '.' + b64u(JSON.stringify({ iss: 'x', pad: 'x'.repeat(9000) })) + '.c2ln',
          ).toString('latin1');
          if (readCompactToken(token).kind !== 'jws') throw new Error('not read');
        })();
        // RegExp's legacy statics (RegExp.input) hold the last string any regex ran on, the token
        // here, until the next regex runs (as one does on every request): run one.
        /a/.test('a');
        let text = '';
        for await (const chunk of getHeapSnapshot()) text += chunk;
        process.stdout.write(String(/(eHh4){200}/.test(text)));
      `;
      const retained = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      assert.equal(retained, 'false');
    });

    it('answers the same with a flood of distinct headers (the known headers are bounded, not a leak or a lock-out)', function () {
      const token = (kid: string) => `${b64u(`{"alg":"ES256","kid":"${kid}"}`)}.${CLAIMS}.c2ln`;
      const first = readCompactToken(token('k-0'));
      for (let i = 1; i < 500; i++) {
        const read = readCompactToken(token(`k-${String(i)}`));
        assert.ok(read.kind === 'jws');
        assert.equal(read.header['kid'], `k-${String(i)}`);
      }
      const again = readCompactToken(token('k-0'));
      assert.ok(first.kind === 'jws' && again.kind === 'jws');
      assert.deepEqual(again.header, { alg: 'ES256', kid: 'k-0' });
      // A header past the size that is kept is read every time, and read right.
      const long = 'x'.repeat(2000);
      assert.ok(readCompactToken(token(long)).kind === 'jws');
      const longAgain = readCompactToken(token(long));
      assert.ok(longAgain.kind === 'jws' && longAgain.header['kid'] === long);
    });

    it('reads a header behind a BOM as jose does (its TextDecoder drops the BOM)', function () {
      const header = Buffer.from('\uFEFF{"alg":"ES256"}').toString('base64url');
      assert.equal(readCompactToken(`${header}.${CLAIMS}.c2ln`).kind, 'jws');
      assertMalformed(() => readCompactToken(`${header}.${CLAIMS}`), `${header}.${CLAIMS}`);
    });

    it('refuses a JOSE header in the wrong number of segments, without alg, or claims that are no object', function () {
      for (const token of [
        `${HEADER}.${CLAIMS}`,
        `${HEADER}.${CLAIMS}.c2ln.c2ln`,
        `${HEADER}.${CLAIMS}.c2ln.c2ln.c2ln.c2ln`,
        `${b64u('{"typ":"JWT"}')}.${CLAIMS}.c2ln`,
        `${b64u('{"alg":7}')}.${CLAIMS}.c2ln`,
        `${b64u('{"enc":"A256GCM"}')}..aXY.Y3Q.dGFn`,
        `${HEADER}..c2ln`,
        `${HEADER}.${b64u('[1,2]')}.c2ln`,
        `${HEADER}.${b64u('not json')}.c2ln`,
      ]) {
        assertMalformed(() => readCompactToken(token), token);
      }
    });
  });

  describe('a guard refuses every other spelling first', function () {
    let stub: AuthorizationServerStub;

    before(async function () {
      stub = await startAuthorizationServer();
    });

    after(async function () {
      await stub.close();
    });

    for (const [name, withIntrospection] of [
      ['with JWT keys only', false],
      ['with introspection and introspectJwts', true],
    ] as const) {
      it(`${name}: MALFORMED, cached or not, with no key fetch and no introspection call`, async function () {
        const guard = createGuard({
          issuer: stub.issuer,
          audience: stub.audience,
          jwksUri: stub.jwksUri,
          timeout: 2000,
          introspection: withIntrospection
            ? {
                clientId: stub.introspectionClient.clientId,
                clientSecret: stub.introspectionClient.clientSecret,
                endpoint: stub.introspectionEndpoint,
                introspectJwts: true,
                cache: false,
              }
            : undefined,
        });
        const token = await stub.sign();
        // Verified (twice: the token cache admits on the second use) and cached, then revoked: a
        // respelling must be neither a cache hit nor a new token.
        await guard.verify(token);
        await guard.verify(token);
        stub.revoke(token);
        stub.resetCounters();
        for (const variant of respellings(token)) {
          await rejectsWith(guard.verify(variant), 'ERR_BEARER_TOKEN_MALFORMED', 401);
        }
        assert.deepEqual(discoveryCounters(stub), {
          jwks: 0,
          oauthMetadata: 0,
          openidConfiguration: 0,
          attackerJwks: 0,
        });
        assert.equal(stub.counters.introspection, 0);
      });
    }
  });
});
