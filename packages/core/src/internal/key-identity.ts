import { KeyObject, type webcrypto } from 'node:crypto';

/** The RFC 7638 §3.2 members of each key type: what makes two JWKs the same key. */
const REQUIRED_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
};

/**
 * The identity of a public JWK: its RFC 7638 thumbprint input (the required members in
 * lexicographic order), unhashed, since it is only compared. `undefined` for what is not a public
 * key of a known type.
 */
export function jwkIdentity(jwk: unknown): string | undefined {
  if (typeof jwk !== 'object' || jwk === null) return undefined;
  const record = jwk as Record<string, unknown>;
  const members = REQUIRED_MEMBERS[String(record['kty'])];
  if (members === undefined || members.some((name) => typeof record[name] !== 'string')) return undefined;
  return JSON.stringify(Object.fromEntries(members.map((name) => [name, record[name]])));
}

const identities = new WeakMap<object, string | undefined>();

/**
 * The identity ({@link jwkIdentity}) of a key jose resolved (a `CryptoKey` or `KeyObject`), computed
 * once per key object: a key set's keys are imported once per load, so this costs one export each.
 */
export function keyIdentity(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null) return undefined;
  if (identities.has(key)) return identities.get(key);
  let identity: string | undefined;
  try {
    const keyObject = key instanceof KeyObject ? key : KeyObject.from(key as webcrypto.CryptoKey);
    identity = keyObject.type === 'public' ? jwkIdentity(keyObject.export({ format: 'jwk' })) : undefined;
  } catch {
    identity = undefined;
  }
  identities.set(key, identity);
  return identity;
}
