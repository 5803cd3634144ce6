// DPoP-bound tokens (RFC 9449 §5) from a real node-oidc-provider, with and without its nonces (§8),
// and the token client's `dpop` option checks. The resource-server half is test/integration.
import assert from 'node:assert/strict';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import {
  createTokenClient,
  TokenClientConfigurationError,
  type TokenClientEventMap,
  type TokenClientOptions,
} from '../src/index.js';
import { TOKEN_REQUEST_CHANNEL, type TokenRequestMessage } from '../src/diagnostics.js';
import { json, startHttpStub } from './support/http-stub.js';
import { ORDERS, startOidcProvider, type OidcProviderFixture } from './support/oidc-provider.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

const fastRetry = { attempts: 2, minDelay: 5, maxDelay: 10 };

function refuses(options: unknown, code: string, mention: RegExp): void {
  assert.throws(
    () => createTokenClient(options as TokenClientOptions),
    (error: unknown) =>
      error instanceof TokenClientConfigurationError && error.code === code && mention.test(error.message),
  );
}

describe('DPoP-bound tokens from node-oidc-provider (RFC 9449 §5)', () => {
  for (const mode of ['on', 'nonce'] as const) {
    describe(mode === 'nonce' ? 'with server nonces (§8)' : 'without nonces', () => {
      let as: OidcProviderFixture;
      before(async () => {
        as = await startOidcProvider({ dpop: mode });
      });
      after(() => as.close());
      beforeEach(() => {
        as.requests.clear();
      });
      const options = (): TokenClientOptions => ({
        issuer: as.issuer,
        clientId: as.basicClient.clientId,
        clientSecret: as.basicClient.clientSecret,
        scope: 'orders:read',
        resource: ORDERS,
        retry: fastRetry,
        dpop: true,
      });

      it('gets a token bound to the generated key, token_type DPoP', async () => {
        const tokens = createTokenClient(options());
        const renewed: TokenClientEventMap['token.renewed'][] = [];
        tokens.on('token.renewed', (event) => renewed.push(event));
        const token = await tokens.getToken();
        assert.equal(token.token_type, 'DPoP');
        const jkt = (decodeJwt(token.access_token)['cnf'] as { jkt?: string } | undefined)?.jkt;
        assert.equal(typeof jkt, 'string');
        assert.equal(renewed[0]?.jkt, jkt);
        // With nonces, the first request is answered use_dpop_nonce and retried once with the nonce.
        assert.equal(as.count('/token'), mode === 'nonce' ? 2 : 1);
        assert.equal(renewed[0]?.attempts, 1);
      });

      it('remembers the nonce: the next renewal is one request, bound to the same key', async () => {
        const tokens = createTokenClient(options());
        const first = await tokens.getToken();
        as.requests.clear();
        const second = await tokens.getToken({ forceRenewal: true });
        assert.equal(as.count('/token'), 1);
        assert.notEqual(second.access_token, first.access_token);
        assert.deepEqual(decodeJwt(second.access_token)['cnf'], decodeJwt(first.access_token)['cnf']);
      });

      it('binds to a key pair of the caller’s (ES256 and Ed25519)', async () => {
        for (const alg of ['ES256', 'Ed25519'] as const) {
          const pair = await generateKeyPair(alg);
          const tokens = createTokenClient({ ...options(), dpop: pair });
          const { access_token } = await tokens.getToken();
          const expected = await calculateJwkThumbprint(await exportJWK(pair.publicKey));
          assert.deepEqual(decodeJwt(access_token)['cnf'], { jkt: expected }, alg);
        }
      });
    });
  }

  it('refuses a Bearer answer to a DPoP request: the sender constraint is never dropped silently', async () => {
    const as = await startOidcProvider({ dpop: 'off' });
    try {
      const tokens = createTokenClient({
        issuer: as.issuer,
        clientId: as.basicClient.clientId,
        clientSecret: as.basicClient.clientSecret,
        resource: ORDERS,
        dpop: true,
      });
      await assert.rejects(tokens.getToken(), {
        name: 'TokenRequestError',
        code: 'ERR_TOKEN_CLIENT_INVALID_RESPONSE',
        message: /has token_type "bearer", not "DPoP"/,
      });
      assert.equal(as.count('/token'), 1);
    } finally {
      await as.close();
    }
  });
});

describe('DPoP nonce retry at the token endpoint', () => {
  it('retries once; a second use_dpop_nonce is the answer, never a loop', async () => {
    let nonce = 0;
    const stub = await startHttpStub((_request, response) => {
      nonce += 1;
      json(response, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': `nonce-${String(nonce)}` });
    });
    try {
      const tokens = createTokenClient({
        tokenEndpoint: `${stub.url}/token`,
        clientId: 'svc',
        clientSecret: 'svc-secret-0123456789',
        dpop: true,
      });
      await assert.rejects(tokens.getToken(), {
        code: 'ERR_TOKEN_CLIENT_TOKEN_ERROR',
        error: 'use_dpop_nonce',
        status: 400,
      });
      assert.equal(stub.requests.length, 2);
      const [first = {}, second = {}] = stub.requests.map((request) =>
        decodeJwt(String(request.headers.dpop)),
      );
      assert.deepEqual(
        { nonce: first['nonce'], htm: first['htm'], htu: first['htu'], ath: first['ath'] },
        { nonce: undefined, htm: 'POST', htu: `${stub.url}/token`, ath: undefined },
      );
      assert.equal(second['nonce'], 'nonce-1');
      assert.notEqual(first.jti, second.jti);
      assert.equal(decodeProtectedHeader(String(stub.requests[0]?.headers.dpop)).typ, 'dpop+jwt');
    } finally {
      await stub.close();
    }
  });

  it('does not retry a use_dpop_nonce without a DPoP-Nonce (the same proof would fail again)', async () => {
    const stub = await startHttpStub((_request, response) =>
      json(response, 400, { error: 'use_dpop_nonce' }),
    );
    try {
      const tokens = createTokenClient({
        tokenEndpoint: `${stub.url}/token`,
        clientId: 'svc',
        clientSecret: 'svc-secret-0123456789',
        retry: { attempts: 1 },
        dpop: true,
      });
      await assert.rejects(tokens.getToken(), { error: 'use_dpop_nonce' });
      assert.equal(stub.requests.length, 1);
    } finally {
      await stub.close();
    }
  });

  it('the retry shares the attempt’s deadline', async () => {
    // Answers use_dpop_nonce, then never answers: the whole attempt fails at `timeout`, once.
    const stub = await startHttpStub((_request, response, index) => {
      if (index === 0) json(response, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': 'n' });
    });
    try {
      const tokens = createTokenClient({
        tokenEndpoint: `${stub.url}/token`,
        clientId: 'svc',
        clientSecret: 'svc-secret-0123456789',
        timeout: 300,
        retry: { attempts: 1 },
        dpop: true,
      });
      await assert.rejects(tokens.getToken(), { code: 'ERR_TOKEN_CLIENT_UNAVAILABLE' });
      assert.equal(stub.requests.length, 2);
    } finally {
      await stub.close();
    }
  });

  it('publishes the binding (the key thumbprint) on the diagnostics channel, nothing of the key', async () => {
    const stub = await startHttpStub((_request, response) =>
      json(response, 200, { access_token: 'dpop-token-123', token_type: 'DPoP', expires_in: 60 }),
    );
    const seen: TokenRequestMessage[] = [];
    const onEnd = (message: unknown): void => {
      seen.push({ ...(message as TokenRequestMessage) });
    };
    subscribe(`tracing:${TOKEN_REQUEST_CHANNEL}:asyncEnd`, onEnd);
    try {
      const pair = await generateKeyPair('ES256', { extractable: true });
      const tokens = createTokenClient({
        tokenEndpoint: `${stub.url}/token`,
        clientId: 'svc',
        clientSecret: 'svc-secret-0123456789',
        dpop: pair,
      });
      assert.equal((await tokens.getToken()).token_type, 'DPoP');
      const jkt = await calculateJwkThumbprint(await exportJWK(pair.publicKey));
      assert.equal(seen[0]?.jkt, jkt);
      const text = JSON.stringify(seen);
      assert.ok(!text.includes(String((await exportJWK(pair.privateKey)).d)));
      assert.ok(!text.includes(String(stub.requests[0]?.headers.dpop)));
    } finally {
      unsubscribe(`tracing:${TOKEN_REQUEST_CHANNEL}:asyncEnd`, onEnd);
      await stub.close();
    }
  });
});

describe('the dpop option', () => {
  const base = {
    tokenEndpoint: 'https://as.example/token',
    clientId: 'svc',
    clientSecret: 'svc-secret-0123',
  };

  it('accepts true, false, { alg }, a CryptoKeyPair and { privateKey, publicKey, alg }', async () => {
    const pair = await generateKeyPair('PS256');
    for (const dpop of [true, false, { alg: 'ES384' }, pair, { ...pair, alg: 'PS256' }] as const) {
      createTokenClient({ ...base, dpop });
    }
  });

  it('refuses a wrong value, naming it', async () => {
    const es256 = await generateKeyPair('ES256');
    const es384 = await generateKeyPair('ES384');
    const CONFIG = 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION';
    refuses({ ...base, dpop: 'yes' }, CONFIG, /`dpop` must be `true`, a CryptoKeyPair/);
    refuses({ ...base, dpop: { alg: 'HS256' } }, CONFIG, /`dpop.alg` must be one of "ES256"/);
    refuses({ ...base, dpop: { alg: 'none' } }, CONFIG, /`dpop.alg`/);
    refuses({ ...base, dpop: { algs: 'ES256' } }, 'ERR_TOKEN_CLIENT_CONFIG_UNKNOWN_OPTION', /`dpop.algs` is not an option; did you mean `alg`/);
    refuses({ ...base, dpop: { privateKey: es256.privateKey } }, 'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION', /both `privateKey` and `publicKey`/);
    refuses({ ...base, dpop: { privateKey: es256.publicKey, publicKey: es256.publicKey } }, CONFIG, /`dpop.privateKey` must be a private CryptoKey/);
    refuses({ ...base, dpop: { privateKey: es256.privateKey, publicKey: es256.privateKey } }, CONFIG, /`dpop.publicKey` must be an extractable public CryptoKey/);
    refuses({ ...base, dpop: { privateKey: es256.privateKey, publicKey: es384.publicKey } }, 'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS', /not of the same algorithm/);
    refuses({ ...base, dpop: { ...es256, alg: 'ES384' } }, 'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS', /`dpop.alg` is ES384 but the key pair signs ES256/);
    refuses({ ...base, dpop: { privateKey: 'PEM', publicKey: 'PEM' } }, CONFIG, /`dpop.privateKey` must be .*received a value of type string/);
  }); // prettier-ignore

  it('refuses RSA keys under 2048 bits and keys that cannot sign proofs', async () => {
    const small = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    refuses({ ...base, dpop: small }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', /an RSA key under 2048 bits/);
    const ecdh = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    refuses({ ...base, dpop: ecdh }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', /`dpop.privateKey` must be a private CryptoKey with the "sign" usage/);
  }); // prettier-ignore

  it('refuses two halves of different key pairs on first use, with a configuration error', async () => {
    const one = await generateKeyPair('ES256');
    const two = await generateKeyPair('ES256');
    const stub = await startHttpStub((_request, response) => json(response, 500, {}));
    try {
      const tokens = createTokenClient({
        ...base,
        tokenEndpoint: `${stub.url}/token`,
        dpop: { privateKey: one.privateKey, publicKey: two.publicKey },
      });
      await assert.rejects(tokens.getToken(), {
        name: 'TokenClientConfigurationError',
        code: 'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
        message: /are not one key pair/,
      });
      assert.equal(stub.requests.length, 0);
    } finally {
      await stub.close();
    }
  });
});
