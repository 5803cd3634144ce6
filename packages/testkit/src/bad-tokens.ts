import { generateStubKey, publicJwkOf, publicKeyPemOf } from './key-store.js';
import type { KeyStore, StubKey } from './key-store.js';
import {
  ACCESS_TOKEN_TYP,
  buildClaims,
  buildHeader,
  decodeSegment,
  hmacSha256Token,
  nowSeconds,
  replacePayload,
  signPayload,
  splitCompact,
  unsecuredToken,
} from './mint-token.js';
import type { ClaimDefaults } from './mint-token.js';
import type { BadTokens, SignOptions, TokenClaims } from './types.js';

/** `aud` of {@link BadTokens.wrongAudience}. */
export const WRONG_AUDIENCE = 'https://wrong.example';
/** `iss` of {@link BadTokens.wrongIssuer}. */
export const WRONG_ISSUER = 'https://evil.example';

/** What the bad-token factories need from the stub. */
export interface BadTokenContext {
  readonly keys: KeyStore;
  readonly defaults: ClaimDefaults;
  /** URL put in `jku`/`x5u` headers; it must serve the keys given to {@link BadTokenContext.addAttackerKey}. */
  readonly attackerJwksUrl: string;
  addAttackerKey(key: StubKey): void;
}

/** Builds the {@link BadTokens} of a stub. */
export function createBadTokens(context: BadTokenContext): BadTokens {
  const { keys, defaults } = context;

  const signDefault = async (claims: TokenClaims | undefined, options: SignOptions = {}): Promise<string> => {
    const key = keys.defaultKey();
    return signPayload(key, buildClaims(defaults, claims, options), buildHeader(key, options.typ));
  };

  /** A fresh key of the default key's algorithm, never stored in the key store. */
  const freshKey = async (): Promise<StubKey> => generateStubKey(keys.defaultKey().alg);

  const signWithFreshKey = async (
    claims: TokenClaims | undefined,
    extraHeader: (key: StubKey) => Record<string, unknown>,
    servedByAttacker: boolean,
  ): Promise<string> => {
    const key = await freshKey();
    if (servedByAttacker) context.addAttackerKey(key);
    return signPayload(key, buildClaims(defaults, claims), buildHeader(key, undefined, extraHeader(key)));
  };

  return {
    expired: (claims) => signDefault(claims, { issuedAt: nowSeconds() - 7200, expiresIn: -3600 }),
    notYetValid: (claims) => signDefault(claims, { notBefore: 3600, expiresIn: 3900 }),
    wrongAudience: (claims) => signDefault({ aud: WRONG_AUDIENCE, ...claims }),
    wrongIssuer: (claims) => signDefault({ iss: WRONG_ISSUER, ...claims }),
    missingExp: (claims) => signDefault(claims, { expiresIn: null }),

    algNone: (claims) => Promise.resolve(unsecuredToken(buildClaims(defaults, claims), ACCESS_TOKEN_TYP)),

    hs256WithPublicKey: async (claims) => {
      const rsaKey = keys.current('RS256') ?? keys.get(await keys.add('RS256'));
      const pem = await publicKeyPemOf(rsaKey);
      return hmacSha256Token(
        buildClaims(defaults, claims),
        { alg: 'HS256', typ: ACCESS_TOKEN_TYP, kid: rsaKey.kid },
        Buffer.from(pem, 'utf8'),
      );
    },

    unknownKid: (claims) => signWithFreshKey(claims, () => ({}), false),
    embeddedJwk: (claims) => signWithFreshKey(claims, (key) => ({ jwk: publicJwkOf(key) }), false),
    jku: (claims) => signWithFreshKey(claims, () => ({ jku: context.attackerJwksUrl }), true),
    x5u: (claims) => signWithFreshKey(claims, () => ({ x5u: context.attackerJwksUrl }), true),

    tampered: async (claims) => {
      const token = await signDefault(claims);
      const payload = decodeSegment(splitCompact(token)[1]) as Record<string, unknown>;
      const widened = payload['scope'] === 'admin' ? 'admin root' : 'admin';
      return replacePayload(token, { ...payload, scope: widened });
    },
  };
}
