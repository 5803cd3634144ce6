import assert from 'node:assert/strict';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { createTokenClient, TokenClientConfigurationError, type TokenClientOptions } from '../src/index.js';
import { assertNoSecrets } from './support/secrets.js';

const base = {
  tokenEndpoint: 'https://as.example/token',
  clientId: 'gateway',
  clientSecret: 'opt-secret-5b8e0c2f',
} satisfies TokenClientOptions;

/** `options` without `key`. */
function without<T extends object, K extends keyof T>(options: T, key: K): Omit<T, K> {
  return Object.fromEntries(Object.entries(options).filter(([name]) => name !== key)) as Omit<T, K>;
}

/** Assert `options` is refused at construction with `code`, and the message mentions each of `mentions`. */
function refuses(options: unknown, code: string, ...mentions: string[]): TokenClientConfigurationError {
  let caught: unknown;
  try {
    createTokenClient(options as TokenClientOptions);
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof TokenClientConfigurationError,
    `expected a TokenClientConfigurationError, got ${String(caught)}`,
  );
  assert.ok(caught instanceof TypeError);
  assert.equal(caught.code, code);
  for (const mention of mentions)
    assert.match(caught.message, new RegExp(mention.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return caught;
}

describe('createTokenClient options', () => {
  it('accepts a minimal configuration and makes no request', () => {
    const tokens = createTokenClient(base);
    assert.equal(typeof tokens.fetch, 'function');
    assert.equal(typeof tokens.getToken, 'function');
  });

  it('rejects an unknown option with a did-you-mean hint', () => {
    refuses(
      { ...base, clientSecert: 'x' },
      'ERR_TOKEN_CLIENT_CONFIG_UNKNOWN_OPTION',
      '`clientSecert`',
      '`clientSecret`',
    );
    refuses({ ...base, retry: { tries: 2 } }, 'ERR_TOKEN_CLIENT_CONFIG_UNKNOWN_OPTION', '`retry.tries`');
  });

  it('treats undefined as absent', () => {
    createTokenClient({
      ...base,
      scope: undefined,
      resource: undefined,
      timeout: undefined,
      issuer: undefined,
    });
  });

  it('requires clientId, and issuer or tokenEndpoint', () => {
    refuses(without(base, 'clientId'), 'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION', '`clientId`');
    refuses(
      without(base, 'tokenEndpoint'),
      'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION',
      '`issuer`',
      '`tokenEndpoint`',
    );
    refuses({ ...base, clientId: '' }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`clientId`');
  });

  it('requires https except on loopback, unless allowInsecureHttp', () => {
    refuses(
      { ...base, issuer: 'http://as.example' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`issuer`',
      'allowInsecureHttp',
    );
    refuses(
      { ...base, tokenEndpoint: 'http://127.0.0.1.nip.io/token' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`tokenEndpoint`',
    );
    refuses(
      { ...base, tokenEndpoint: 'ftp://as.example/token' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      'https',
    );
    for (const url of [
      'http://127.0.0.1:8080/token',
      'http://localhost/token',
      'http://[::1]/token',
      'http://127.1.2.3/t',
    ]) {
      createTokenClient({ ...base, tokenEndpoint: url });
    }
    createTokenClient({ ...base, issuer: 'http://as.internal', allowInsecureHttp: true });
  });

  it('refuses URLs with credentials, queries in the issuer, and fragments, without repeating a password', () => {
    const error = refuses(
      { ...base, tokenEndpoint: 'https://gateway:pw-in-url-77@as.example/token' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      'clientSecret',
    );
    assertNoSecrets(error, ['pw-in-url-77']);
    refuses(
      { ...base, issuer: 'https://as.example?tenant=1' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`issuer`',
    );
    refuses(
      { ...base, tokenEndpoint: 'https://as.example/token#x' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      'fragment',
    );
  });

  it('needs exactly one credential, matching authMethod', () => {
    const noSecret = without(base, 'clientSecret');
    refuses(noSecret, 'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION', '`clientSecret`', '`privateKey`');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refuses({ ...base, privateKey }, 'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS', 'not both');
    refuses(
      { ...base, authMethod: 'private_key_jwt' },
      'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION',
      '`privateKey`',
    );
    refuses(
      { ...noSecret, privateKey, authMethod: 'client_secret_post' },
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      '`privateKey`',
    );
    refuses(
      { ...base, authMethod: 'client_secret_jwt' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`authMethod`',
      'private_key_jwt',
    );
    createTokenClient({ ...base, authMethod: 'client_secret_post' });
    createTokenClient({ ...noSecret, privateKey });
  });

  it('never repeats the value of a secret option', () => {
    const error = refuses(
      { ...base, clientSecret: 424242424242 },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`clientSecret`',
    );
    assertNoSecrets(error, ['424242424242']);
    const noSecret = without(base, 'clientSecret');
    const pem =
      '-----BEGIN PRIVATE KEY-----\nNOT-A-KEY-c2VjcmV0LWtleS1tYXRlcmlhbA\n-----END PRIVATE KEY-----';
    assertNoSecrets(
      refuses({ ...noSecret, privateKey: pem }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`privateKey`'),
      ['c2VjcmV0LWtleS1tYXRlcmlhbA'],
    );
    const jwk = { kty: 'EC', crv: 'P-256', x: 'bad', y: 'bad', d: 'private-part-d-9f8e7d' };
    assertNoSecrets(
      refuses({ ...noSecret, privateKey: jwk }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`privateKey`'),
      ['private-part-d-9f8e7d'],
    );
  });

  it('checks private keys at construction', async () => {
    const noSecret = without(base, 'clientSecret');
    const ec = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(ec.publicKey);
    refuses({ ...noSecret, privateKey: publicJwk }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', 'public JWK');
    const privateJwk = await exportJWK(ec.privateKey);
    refuses(
      { ...noSecret, privateKey: privateJwk, privateKeyAlgorithm: 'RS256' },
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      'ES256',
    );
    refuses(
      { ...noSecret, privateKey: { ...privateJwk, alg: 'ES384' } },
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      'ES256',
    );
    refuses(
      { ...noSecret, privateKey: privateJwk, privateKeyAlgorithm: 'none' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`privateKeyAlgorithm`',
    );
    const verifyOnly = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'verify',
      'sign',
    ]);
    refuses(
      { ...noSecret, privateKey: verifyOnly.publicKey },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '"sign" usage',
    );
    refuses(
      { ...noSecret, privateKey: verifyOnly.privateKey, privateKeyAlgorithm: 'ES256' },
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      'CryptoKey',
    );
    const { privateKey: x25519 } = generateKeyPairSync('x25519');
    refuses({ ...noSecret, privateKey: x25519 }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', 'x25519');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    createTokenClient({
      ...noSecret,
      privateKey: rsa.export({ type: 'pkcs8', format: 'pem' }) as string,
      privateKeyAlgorithm: 'RS384',
    });
    createTokenClient({ ...noSecret, privateKey: rsa.export({ format: 'jwk' }) });
    createTokenClient({ ...noSecret, privateKey: privateJwk, privateKeyId: 'k1' });
    createTokenClient({ ...noSecret, privateKey: verifyOnly.privateKey });
  });

  it('validates scope tokens (RFC 6749 §3.3) and resource indicators (RFC 8707 §2)', () => {
    refuses({ ...base, scope: 'orders:read "quoted"' }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`scope`');
    refuses({ ...base, scope: ['ok', 'not ok'] }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`scope`');
    refuses({ ...base, scope: 42 }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`scope`');
    refuses(
      { ...base, resource: 'https://orders.example#frag' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`resource`',
      'fragment',
    );
    refuses({ ...base, resource: 'orders' }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`resource`');
    createTokenClient({
      ...base,
      scope: ['orders:read', 'orders:write'],
      resource: ['https://a.example', 'urn:x:b'],
    });
  });

  it('checks every number and names the option', () => {
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5000', 120_001]) {
      refuses({ ...base, timeout: value }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`timeout`', 'ms');
    }
    refuses(
      { ...base, defaultExpiresIn: 0 },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`defaultExpiresIn`',
      'seconds',
    );
    refuses({ ...base, renewalMargin: -5 }, 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION', '`renewalMargin`');
    refuses(
      { ...base, retry: { attempts: 0 } },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`retry.attempts`',
    );
    refuses(
      { ...base, retry: { minDelay: 500, maxDelay: 100 } },
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      '`retry.minDelay`',
    );
    refuses(
      { ...base, maxResponseBytes: 10 },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`maxResponseBytes`',
    );
    refuses(
      { ...base, allowInsecureHttp: 'yes' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`allowInsecureHttp`',
    );
  });

  it('needs an issuer for clientAssertionAudience "issuer"', () => {
    refuses(
      { ...base, clientAssertionAudience: 'issuer' },
      'ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS',
      '`issuer`',
    );
    refuses(
      { ...base, clientAssertionAudience: 'aud' },
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      '`clientAssertionAudience`',
    );
  });

  it('validates per-call arguments with ERR_TOKEN_CLIENT_INVALID_ARGUMENT', async () => {
    const tokens = createTokenClient(base);
    await assert.rejects(tokens.getToken({ scope: 'a"b' }), { code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT' });
    await assert.rejects(tokens.getToken({ resource: 'not a uri' }), {
      code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
    });
    await assert.rejects(tokens.getToken({ forceRenewal: 'yes' as never }), {
      code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
    });
    await assert.rejects(tokens.getToken({ signal: {} as never }), {
      code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
    });
    await assert.rejects(tokens.getToken({ scopes: 'x' } as never), {
      code: 'ERR_TOKEN_CLIENT_CONFIG_UNKNOWN_OPTION',
    });
    assert.throws(() => tokens.fetchFor({ resource: 'https://x.example#f' }), {
      code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
    });
    await assert.rejects(tokens.fetch('http://orders.example/'), {
      code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT',
    });
    await assert.rejects(tokens.fetch('/relative'), { code: 'ERR_TOKEN_CLIENT_INVALID_ARGUMENT' });
  });
});
