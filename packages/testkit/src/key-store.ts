import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';

import type { StubAlgorithm } from './types.js';

/** A signing key pair held by the stub. */
export interface StubKey {
  readonly kid: string;
  readonly alg: StubAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** Public JWK with `kid`, `alg` and `use: 'sig'`. Never handed out without copying. */
  readonly publicJwk: Readonly<JWK>;
}

/**
 * Generates a key pair for `alg` with the given kid, or the RFC 7638 thumbprint of its public key.
 * The private key is not extractable.
 */
export async function generateStubKey(alg: StubAlgorithm, kid?: string): Promise<StubKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  const keyId = kid ?? (await calculateJwkThumbprint(jwk));
  return { kid: keyId, alg, privateKey, publicKey, publicJwk: { ...jwk, kid: keyId, alg, use: 'sig' } };
}

/** Copy of a key's public JWK, as served in a JWKS. */
export function publicJwkOf(key: StubKey): Record<string, unknown> {
  return { ...key.publicJwk };
}

/** SPKI PEM of a key's public key. */
export async function publicKeyPemOf(key: StubKey): Promise<string> {
  return exportSPKI(key.publicKey);
}

/**
 * The rotatable keys of a stub: every key known by kid, which ones are published, and the current
 * signing key per algorithm.
 */
export class KeyStore {
  /** Insertion-ordered, so "most recently added" is well defined. */
  readonly #keys = new Map<string, StubKey>();
  readonly #published = new Set<string>();
  readonly #current = new Map<StubAlgorithm, string>();
  readonly #defaultAlg: StubAlgorithm;

  constructor(defaultAlg: StubAlgorithm) {
    this.#defaultAlg = defaultAlg;
  }

  /** The algorithm of the default signing key. */
  get defaultAlg(): StubAlgorithm {
    return this.#defaultAlg;
  }

  /** Generates and stores a key; it becomes current for `alg` if there was no current key of `alg`. */
  async add(alg: StubAlgorithm, options: { publish?: boolean; kid?: string } = {}): Promise<string> {
    if (options.kid !== undefined) this.#assertFreeKid(options.kid);
    const key = await generateStubKey(alg, options.kid);
    // A thumbprint collision is practically impossible, but the check keeps the store consistent.
    this.#assertFreeKid(key.kid);
    this.#keys.set(key.kid, key);
    if (options.publish ?? true) this.#published.add(key.kid);
    if (!this.#current.has(alg)) this.#current.set(alg, key.kid);
    return key.kid;
  }

  /** Generates a published key, makes it current for `alg`, and optionally unpublishes the previous current key. */
  async rotate(alg: StubAlgorithm = this.#defaultAlg, retireOld = false): Promise<string> {
    const previous = this.#current.get(alg);
    const kid = await this.add(alg, { publish: true });
    this.#current.set(alg, kid);
    if (retireOld && previous !== undefined) this.#published.delete(previous);
    return kid;
  }

  publish(kid: string): void {
    this.get(kid);
    this.#published.add(kid);
  }

  unpublish(kid: string): void {
    this.get(kid);
    this.#published.delete(kid);
  }

  remove(kid: string): void {
    const key = this.get(kid);
    this.#keys.delete(kid);
    this.#published.delete(kid);
    if (this.#current.get(key.alg) === kid) {
      const remaining = [...this.#keys.values()].filter((candidate) => candidate.alg === key.alg);
      const successor = remaining.at(-1);
      if (successor === undefined) this.#current.delete(key.alg);
      else this.#current.set(key.alg, successor.kid);
    }
  }

  /** The key of `kid`; throws if unknown. */
  get(kid: string): StubKey {
    const key = this.#keys.get(kid);
    if (key === undefined) throw new Error(`testkit: no key with kid ${JSON.stringify(kid)}`);
    return key;
  }

  /** The key of `kid`, or `undefined` if unknown. */
  find(kid: string): StubKey | undefined {
    return this.#keys.get(kid);
  }

  /** Every key of `alg`, published or not, in the order they were added. */
  keysOf(alg: string): StubKey[] {
    return [...this.#keys.values()].filter((key) => key.alg === alg);
  }

  /** The current key of `alg`, if any. */
  current(alg: StubAlgorithm): StubKey | undefined {
    const kid = this.#current.get(alg);
    return kid === undefined ? undefined : this.#keys.get(kid);
  }

  /** The current key of the default algorithm, else the first remaining key; throws if there is none. */
  defaultKey(): StubKey {
    const key = this.current(this.#defaultAlg) ?? this.#keys.values().next().value;
    if (key === undefined) throw new Error('testkit: the stub has no keys left (add one with addKey())');
    return key;
  }

  /** Chooses the key for signing: `kid` if given, else the current key of `alg`, else the default key. */
  signingKey(alg?: StubAlgorithm, kid?: string): StubKey {
    if (kid !== undefined) {
      const key = this.get(kid);
      if (alg !== undefined && key.alg !== alg) {
        throw new Error(`testkit: key ${JSON.stringify(kid)} is a ${key.alg} key, not ${alg}`);
      }
      return key;
    }
    if (alg === undefined) return this.defaultKey();
    const key = this.current(alg);
    if (key === undefined) throw new Error(`testkit: no ${alg} key (add one with addKey('${alg}'))`);
    return key;
  }

  /** Published keys, in the order they were added. */
  publishedKeys(): StubKey[] {
    return [...this.#keys.values()].filter((key) => this.#published.has(key.kid));
  }

  isPublished(kid: string): boolean {
    return this.#published.has(kid);
  }

  /** The public JWKS: a fresh copy. */
  jwks(): { keys: Record<string, unknown>[] } {
    return { keys: this.publishedKeys().map(publicJwkOf) };
  }

  #assertFreeKid(kid: string): void {
    if (kid === '') throw new Error('testkit: kid must not be empty');
    if (this.#keys.has(kid)) throw new Error(`testkit: a key with kid ${JSON.stringify(kid)} already exists`);
  }
}
