import assert from 'node:assert/strict';

import { matchScopes, readScopes, requiredScopes } from '@bearer-guard/core';

import { throwsConfig } from './helpers.js';

const DEFAULT_CLAIMS = ['scope', 'scp'];

describe('scope: readScopes / matchScopes / requiredScopes', function () {
  describe('readScopes', function () {
    it('splits a space-delimited scope string (RFC 6749 §3.3)', function () {
      assert.deepEqual(readScopes({ scope: 'read write admin' }, DEFAULT_CLAIMS), ['read', 'write', 'admin']);
      assert.deepEqual(readScopes({ scope: '  read   write ' }, DEFAULT_CLAIMS), ['read', 'write']);
      assert.deepEqual(readScopes({ scope: '' }, DEFAULT_CLAIMS), []);
    });

    it('reads scp as a string or an array of strings', function () {
      assert.deepEqual(readScopes({ scp: 'a b' }, DEFAULT_CLAIMS), ['a', 'b']);
      assert.deepEqual(readScopes({ scp: ['a', 'b:c'] }, DEFAULT_CLAIMS), ['a', 'b:c']);
    });

    it('merges the configured claims without duplicates', function () {
      assert.deepEqual(readScopes({ scope: 'a b', scp: ['b', 'c'] }, DEFAULT_CLAIMS), ['a', 'b', 'c']);
    });

    it('ignores non-string entries and values that are neither strings nor arrays', function () {
      assert.deepEqual(readScopes({ scp: ['a', 1, null, { b: 1 }, '', 'c'] }, DEFAULT_CLAIMS), ['a', 'c']);
      assert.deepEqual(readScopes({ scope: 42, scp: { read: true } }, DEFAULT_CLAIMS), []);
      assert.deepEqual(readScopes({}, DEFAULT_CLAIMS), []);
    });

    it('reads permissions only when listed', function () {
      const claims = { scope: 'read', permissions: ['orders:write', 'orders:delete'] };
      assert.deepEqual(readScopes(claims, DEFAULT_CLAIMS), ['read']);
      assert.deepEqual(readScopes(claims, [...DEFAULT_CLAIMS, 'permissions']), [
        'read',
        'orders:write',
        'orders:delete',
      ]);
      assert.deepEqual(readScopes(claims, ['permissions']), ['orders:write', 'orders:delete']);
    });
  });

  describe('matchScopes', function () {
    it('is exact and case-sensitive: reader, READ, read:all and " read" do not satisfy read', function () {
      for (const granted of [['reader'], ['READ'], ['read:all'], ['Read'], ['rea'], [' read'], []]) {
        assert.equal(matchScopes(['read'], granted, 'all'), false, JSON.stringify(granted));
        assert.equal(matchScopes(['read'], granted, 'any'), false, JSON.stringify(granted));
      }
      assert.equal(matchScopes(['read'], ['READ', 'read'], 'all'), true);
    });

    it("'all' needs every required scope", function () {
      assert.equal(matchScopes(['a', 'b'], ['a', 'b', 'c'], 'all'), true);
      assert.equal(matchScopes(['a', 'b'], ['a', 'c'], 'all'), false);
    });

    it("'any' needs one of them", function () {
      assert.equal(matchScopes(['a', 'b'], ['b'], 'any'), true);
      assert.equal(matchScopes(['a', 'b'], ['c'], 'any'), false);
    });

    it('matches scopes read from a token exactly', function () {
      const granted = readScopes({ scope: 'orders:read orders:write' }, DEFAULT_CLAIMS);
      assert.equal(matchScopes(['orders:read'], granted, 'all'), true);
      assert.equal(matchScopes(['orders'], granted, 'any'), false);
    });
  });

  describe('requiredScopes', function () {
    it('flattens strings and arrays', function () {
      assert.deepEqual(requiredScopes('requireScopes', ['a', ['b', 'c:d'], 'e']), ['a', 'b', 'c:d', 'e']);
    });

    it('refuses an empty list, naming the caller', function () {
      throwsConfig(
        () => requiredScopes('requireScopes', []),
        'ERR_BEARER_CONFIG_MISSING_OPTION',
        'requireScopes()',
      );
      throwsConfig(
        () => requiredScopes('requireAnyScope', [[]]),
        'ERR_BEARER_CONFIG_MISSING_OPTION',
        'requireAnyScope()',
      );
    });

    it('refuses values that are not one RFC 6749 scope-token', function () {
      for (const scope of ['', 'a b', '"x', 'back\\slash', 'tab\tx', 'é', 'x\n']) {
        throwsConfig(
          () => requiredScopes('requireScopes', [scope]),
          'ERR_BEARER_CONFIG_INVALID_OPTION',
          'requireScopes()',
          JSON.stringify(scope),
        );
      }
      throwsConfig(
        () => requiredScopes('requireScopes', ['ok', 42 as unknown as string]),
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        'requireScopes()',
      );
    });

    it('accepts every printable ASCII scope-token character', function () {
      const all = "!#$%&'()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~";
      assert.deepEqual(requiredScopes('requireScopes', [all]), [all]);
    });
  });
});
