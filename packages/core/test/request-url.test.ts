import assert from 'node:assert/strict';

import { normalizeHttpUrl, requestUrl } from '@bearer-guard/core';

describe('request URL (the DPoP htu, RFC 9449 §4.3 (9))', function () {
  it('normalises per RFC 3986 §6.2.2 / §6.2.3: case, default port, dot segments, percent-encoding', function () {
    const cases: [string, string | undefined][] = [
      ['HTTPS://API.Example.COM:443/a', 'https://api.example.com/a'],
      ['http://api.example.com:80', 'http://api.example.com/'],
      ['https://api.example.com:8443/a/./b/../c', 'https://api.example.com:8443/a/c'],
      ['https://api.example.com/%7euser/%2f%41', 'https://api.example.com/~user/%2FA'],
      ['https://api.example.com/a?q=1#f', 'https://api.example.com/a'],
      ['https://api.example.com/A', 'https://api.example.com/A'],
      ['ftp://api.example.com/a', undefined],
      ['https://user:pw@api.example.com/a', undefined],
      ['/relative', undefined],
      // Characters WHATWG leaves raw in a path but RFC 3986 does not allow: their encoding.
      ['https://api.example.com/a|b^c[d]', 'https://api.example.com/a%7Cb%5Ec%5Bd%5D'],
      ['https://api.example.com/50%/%zz', 'https://api.example.com/50%25/%25zz'],
      // No URI holds controls, spaces or a backslash: WHATWG would drop them or read `/`.
      ['https://api.example.com/a\nb', undefined],
      [' https://api.example.com/a', undefined],
      ['https://api.example.com\\a', undefined],
    ];
    for (const [input, expected] of cases) assert.equal(normalizeHttpUrl(input), expected, input);
  });

  const socket = (remoteAddress: string) => ({ remoteAddress });
  const trust = (address: string) => address === '127.0.0.1';

  it('is publicUrl + the path of the request target, whatever Host or X-Forwarded-* say', function () {
    const headers = { host: 'evil.example', 'x-forwarded-host': 'evil.example' };
    assert.equal(
      requestUrl(
        { headers, originalUrl: '/v1/orders?x=1', socket: socket('127.0.0.1') },
        'https://api.example.com/api',
        trust,
      ),
      'https://api.example.com/api/v1/orders',
    );
    // Absolute-form target: its authority is the client's word, only the path counts.
    assert.equal(
      requestUrl(
        { headers, originalUrl: 'http://evil.example/orders' },
        'https://api.example.com',
        undefined,
      ),
      'https://api.example.com/orders',
    );
    // `//evil.example/x` is a path here, not an authority.
    assert.equal(
      requestUrl({ headers, originalUrl: '//evil.example/x' }, 'https://api.example.com', undefined),
      'https://api.example.com//evil.example/x',
    );
  });

  it('without publicUrl: forwarded headers from a trusted peer only (the member its proxy appended), never a bare Host', function () {
    const headers = {
      host: 'internal:3000',
      'x-forwarded-host': 'evil.example, api.example.com',
      'x-forwarded-proto': 'https',
    };
    assert.equal(
      requestUrl({ headers, url: '/o', socket: socket('127.0.0.1') }, undefined, trust),
      'https://api.example.com/o',
    );
    assert.equal(requestUrl({ headers, url: '/o', socket: socket('10.0.0.9') }, undefined, trust), undefined);
    assert.equal(requestUrl({ headers, url: '/o' }, undefined, trust), undefined);
    assert.equal(
      requestUrl({ headers, url: '/o', socket: socket('127.0.0.1') }, undefined, undefined),
      undefined,
    );
    for (const host of ['evil.example/path', 'a@evil.example', 'evil.example?x', 'evil\\example']) {
      assert.equal(
        requestUrl(
          { headers: { 'x-forwarded-host': host }, url: '/o', socket: socket('127.0.0.1') },
          undefined,
          trust,
        ),
        undefined,
        host,
      );
    }
    assert.equal(
      requestUrl(
        {
          headers: { 'x-forwarded-host': 'a.example', 'x-forwarded-proto': 'gopher' },
          url: '/o',
          socket: socket('127.0.0.1'),
        },
        undefined,
        trust,
      ),
      undefined,
    );
  });
});
