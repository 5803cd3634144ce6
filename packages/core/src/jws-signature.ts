import { createHmac, KeyObject, timingSafeEqual, verify, constants } from 'node:crypto';

/**
 * How node:crypto checks each JWS algorithm (RFC 7518 §3), and which keys may serve it. The
 * binding is strict (RFC 8725 §3.1): an RS* or PS* token only with an RSA key of at least 2048
 * bits (RFC 7518 §3.3, §3.5), an RSA-PSS key only for PS*, each ES* only with its own curve
 * (RFC 7518 §3.4), EdDSA only with Ed25519 or Ed448 (RFC 8037 §3.1), `Ed25519` only with Ed25519
 * (RFC 9864), HS* only with a secret.
 */
interface SignatureAlgorithm {
  /** node:crypto's digest name; `null` for EdDSA, which hashes internally. */
  readonly hash: string | null;
  /** The `asymmetricKeyType`s (or `'secret'`) that may serve this algorithm. */
  readonly keyTypes: readonly string[];
  /** For ECDSA: the one curve (node's name). */
  readonly curve?: string;
  /** For PS*: the salt length, equal to the hash size (RFC 7518 §3.5). */
  readonly saltLength?: number;
}

const rsa = (bits: number, saltLength?: number): SignatureAlgorithm =>
  saltLength === undefined
    ? { hash: `sha${bits}`, keyTypes: ['rsa'] }
    : { hash: `sha${bits}`, keyTypes: ['rsa', 'rsa-pss'], saltLength };

const SIGNATURE_ALGORITHMS: Readonly<Record<string, SignatureAlgorithm>> = {
  HS256: { hash: 'sha256', keyTypes: ['secret'] },
  HS384: { hash: 'sha384', keyTypes: ['secret'] },
  HS512: { hash: 'sha512', keyTypes: ['secret'] },
  RS256: rsa(256),
  RS384: rsa(384),
  RS512: rsa(512),
  PS256: rsa(256, 32),
  PS384: rsa(384, 48),
  PS512: rsa(512, 64),
  ES256: { hash: 'sha256', keyTypes: ['ec'], curve: 'prime256v1' },
  ES384: { hash: 'sha384', keyTypes: ['ec'], curve: 'secp384r1' },
  ES512: { hash: 'sha512', keyTypes: ['ec'], curve: 'secp521r1' },
  EdDSA: { hash: null, keyTypes: ['ed25519', 'ed448'] },
  Ed25519: { hash: null, keyTypes: ['ed25519'] },
};

/** RFC 7518 §3.3 / §3.5: "A key of size 2048 bits or larger MUST be used". */
export const MIN_RSA_BITS = 2048;

/** The key kinds node:crypto can check a signature with. */
export type VerificationKey = KeyObject | Uint8Array;

/**
 * Why `key` cannot verify an `alg` signature, or `undefined` when it can. Used at start-up (a
 * configured key that fits no allowed algorithm is a configuration error) and before every
 * signature check (a token's `alg` must fit the key it selects).
 */
export function keyMismatch(alg: string, key: VerificationKey): string | undefined {
  const entry = SIGNATURE_ALGORITHMS[alg];
  if (entry === undefined) return `${alg} is not a supported JWS algorithm`;
  if (!(key instanceof KeyObject)) {
    return entry.keyTypes.includes('secret') ? undefined : `${alg} needs a public key, not a secret`;
  }
  const type = key.type === 'secret' ? 'secret' : key.asymmetricKeyType;
  if (key.type === 'private') return 'a private key cannot be a verification key';
  if (type === undefined || !entry.keyTypes.includes(type)) {
    return `${alg} cannot be verified with a ${type ?? 'unknown'} key`;
  }
  if (entry.curve !== undefined && key.asymmetricKeyDetails?.namedCurve !== entry.curve) {
    return `${alg} needs curve ${entry.curve}, not ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}`;
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return `${alg} needs an RSA key of at least ${MIN_RSA_BITS} bits, not ${bits}`;
  }
  return undefined;
}

/**
 * Check a JWS signature (RFC 7515 §5.2 step 8) with node:crypto, synchronously (the public
 * `checkDpopProof`, and the pool's fallback; the guard's own path is {@link verifySignatureInPool}). The caller has
 * checked {@link keyMismatch}. ECDSA signatures are the raw `R || S` of RFC 7518 §3.4
 * (`ieee-p1363`); PS* use PSS with MGF1 of the same hash and a salt of the hash's size; HS*
 * compare in constant time.
 */
export function verifySignature(
  alg: string,
  key: VerificationKey,
  signingInput: Buffer,
  signature: Buffer,
): boolean {
  const entry = SIGNATURE_ALGORITHMS[alg];
  if (entry === undefined) return false;
  if (entry.keyTypes.includes('secret')) {
    const secret = key instanceof KeyObject ? key.export() : key;
    const expected = createHmac(entry.hash ?? 'sha256', secret)
      .update(signingInput)
      .digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  }
  if (!(key instanceof KeyObject)) return false;
  return verify(entry.hash, signingInput, verifyKeyInput(entry, key), signature);
}

/** The key input node:crypto's `verify` takes for an asymmetric `alg` (see {@link verifySignature}). */
function verifyKeyInput(entry: SignatureAlgorithm, key: KeyObject) {
  if (entry.curve !== undefined) return { key, dsaEncoding: 'ieee-p1363' as const };
  if (entry.saltLength !== undefined)
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: entry.saltLength };
  return key;
}

/**
 * {@link verifySignature} with the asymmetric math on libuv's thread pool (node:crypto's `verify`
 * with a callback): the event loop goes on with other requests meanwhile, and on a machine with
 * more than one core the signature runs beside it. Measured on one core as well: the cold path
 * went from 0.92 to 1.09 x jose's `jwtVerify` (which verifies through WebCrypto, also on the
 * pool), because answers then leave in bursts, not one socket write and client wake-up per
 * signature (bench/README.md). HS* stays inline (a digest costs less than the trip), and so does
 * any check once {@link MAX_POOL_VERIFICATIONS} are queued; one the pool has not answered within
 * {@link POOL_WAIT_MS} (its threads busy with other work, e.g. a stuck `dns.lookup`) is done
 * inline then, so a request never waits on the pool without bound. Never
 * rejects: a signature that cannot be checked (an ECDSA signature of the wrong length) is one that
 * does not verify.
 */
export function verifySignatureInPool(
  alg: string,
  key: VerificationKey,
  signingInput: Buffer,
  signature: Buffer,
): boolean | Promise<boolean> {
  const entry = SIGNATURE_ALGORITHMS[alg];
  if (entry === undefined) return false;
  if (
    entry.keyTypes.includes('secret') ||
    !(key instanceof KeyObject) ||
    poolVerifications >= MAX_POOL_VERIFICATIONS
  )
    return verifiesInline(alg, key, signingInput, signature);
  return new Promise((resolve) => {
    const check: PoolCheck = {
      deadline: performance.now() + POOL_WAIT_MS,
      // Answered once: by the pool or, past the wait, inline; whichever comes second is ignored.
      settle: (valid) => {
        if (watched.delete(check)) resolve(valid);
      },
      inline: () => verifiesInline(alg, key, signingInput, signature),
    };
    watch(check);
    poolVerifications++;
    try {
      verify(entry.hash, signingInput, verifyKeyInput(entry, key), signature, (error, valid) => {
        poolVerifications--;
        check.settle(error === null && valid);
      });
    } catch {
      poolVerifications--;
      check.settle(false);
    }
  });
}

/** A signature check on the pool, watched until it is answered or its wait runs out. */
interface PoolCheck {
  /** `performance.now()` past which the check is done inline. */
  readonly deadline: number;
  /** Answer the check, unless it was answered already (it is then no longer watched). */
  settle(valid: boolean): void;
  inline(): boolean;
}

/**
 * The checks in flight on the pool, oldest first (a Set keeps insertion order, and every check
 * waits the same {@link POOL_WAIT_MS}, so deadlines are in order), and the one timer that watches
 * them all: a check costs no timer of its own, and leaves the set as soon as it is answered (so
 * being in the set is what "not answered yet" means).
 */
const watched = new Set<PoolCheck>();
let watchdog: NodeJS.Timeout | undefined;

function watch(check: PoolCheck): void {
  watched.add(check);
  watchdog ??= armWatchdog(POOL_WAIT_MS);
}

function armWatchdog(ms: number): NodeJS.Timeout {
  // The pool is shared with fs, dns.lookup, zlib and the rest of node:crypto: a few jobs stuck
  // there (a resolver that does not answer) must not hold every cold token. Past the wait, the
  // check runs here; the pool's late answer is ignored. Not from the timer itself: after a long
  // turn of the event loop the timers run before the pool's answers are taken in (libuv's poll
  // phase), and every check in flight would be done twice; setImmediate runs after that phase.
  const timer = setTimeout(() => setImmediate(sweep), ms);
  timer.unref();
  return timer;
}

/** Do inline every check whose wait ran out, and watch the rest. */
function sweep(): void {
  watchdog = undefined;
  const now = performance.now();
  for (const check of watched) {
    if (check.deadline > now) {
      watchdog = armWatchdog(Math.max(1, check.deadline - now));
      return;
    }
    check.settle(check.inline());
  }
}

/** {@link verifySignature}, a signature that cannot be checked (wrong ECDSA length) one that does not verify. */
function verifiesInline(alg: string, key: VerificationKey, signingInput: Buffer, signature: Buffer): boolean {
  try {
    return verifySignature(alg, key, signingInput, signature);
  } catch {
    return false;
  }
}

/** How long a signature check waits for libuv's pool before it is done on the event loop instead. */
const POOL_WAIT_MS = 100;
/**
 * This module's checks on the pool at most (counted until the pool answers, also when the wait
 * ran out); past that, inline: the queue stays bounded under load or while the pool is stuck.
 */
const MAX_POOL_VERIFICATIONS = 256;
let poolVerifications = 0;
