// Key material kept in the data directory, so restarts keep the JWKS (tokens issued before a restart
// still verify) and the backend-services client keeps its registered key. Generated at first start;
// files are JSON, mode 0600, written without ever exposing a half-written file to a concurrent start.
import { randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

/** A private JWK with the members the provider and the clients need. */
export type PrivateJwk = JWK & { kid: string; alg: string; d: string };

export interface KeyMaterial {
  /** The provider's signing keys: ES256 (access tokens) and RS256 (ID tokens). Private. */
  signingKeys: PrivateJwk[];
  /** The `backend-services` client's ES256 key pair (SMART Backend Services). */
  backendServices: { privateJwk: PrivateJwk; publicJwk: JWK };
}

export const SIGNING_KEYS_FILE = 'signing-keys.json';
export const BACKEND_SERVICES_KEY_FILE = 'backend-services-key.json';
const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;

async function generate(alg: string, use: 'sig'): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg, use } as PrivateJwk;
}

function isPrivateJwk(value: unknown, alg: string): value is PrivateJwk {
  if (typeof value !== 'object' || value === null) return false;
  const jwk = value as Record<string, unknown>;
  return jwk['alg'] === alg && typeof jwk['kid'] === 'string' && typeof jwk['d'] === 'string';
}

function corrupt(file: string, what: string): Error {
  return new Error(
    `${file} does not hold ${what}. Delete it to generate new keys at the next start (tokens issued with the old keys stop verifying).`,
  );
}

/** Reads a key file, or returns `undefined` when it does not exist yet. */
async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    const { mode } = await stat(file);
    // Like ssh: refuse private keys other users can read (POSIX modes only).
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new Error(`${file} holds private keys but is readable by other users; run: chmod 600 ${file}`);
    }
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw corrupt(file, 'JSON');
  }
}

/**
 * Writes `value` to `file` only if no file is there: a temporary file is written (mode 0600) and
 * hard-linked into place, which fails with EEXIST when another process won the race.
 * @returns `false` if the file already existed.
 */
async function createJsonFile(file: string, value: unknown): Promise<boolean> {
  const temporary = `${file}.${randomUUID()}.tmp`;
  await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await chmod(temporary, 0o600); // the umask may have narrowed it further, never widened it
    await link(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

async function loadSigningKeys(file: string): Promise<PrivateJwk[]> {
  let stored = await readJsonFile(file);
  if (stored === undefined) {
    const keys = await Promise.all(SIGNING_ALGORITHMS.map((alg) => generate(alg, 'sig')));
    if (await createJsonFile(file, { keys })) return keys;
    stored = await readJsonFile(file);
  }
  const keys = (stored as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys)) throw corrupt(file, 'a JWK Set');
  const result = SIGNING_ALGORITHMS.map((alg) => keys.find((key) => isPrivateJwk(key, alg)));
  if (!result.every((key) => key !== undefined)) {
    throw corrupt(file, `private ${SIGNING_ALGORITHMS.join(' and ')} keys`);
  }
  return result;
}

async function loadBackendServicesKey(file: string): Promise<PrivateJwk> {
  let stored = await readJsonFile(file);
  if (stored === undefined) {
    const key = await generate('ES256', 'sig');
    if (await createJsonFile(file, key)) return key;
    stored = await readJsonFile(file);
  }
  if (!isPrivateJwk(stored, 'ES256')) throw corrupt(file, 'a private ES256 JWK');
  return stored;
}

/** The public half of a private JWK (EC or RSA). */
export function publicJwk(jwk: PrivateJwk): JWK {
  const { kty, crv, x, y, n, e, kid, alg, use } = jwk;
  return Object.fromEntries(
    Object.entries({ kty, crv, x, y, n, e, kid, alg, use }).filter(([, value]) => value !== undefined),
  );
}

/**
 * Loads the key material from `dataDir`, generating and saving whatever is missing (the directory
 * is created with mode 0700).
 *
 * @throws if a key file is unreadable, corrupt, or readable by other users.
 */
export async function loadOrCreateKeys(dataDir: string): Promise<KeyMaterial> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const [signingKeys, privateJwk] = await Promise.all([
    loadSigningKeys(path.join(dataDir, SIGNING_KEYS_FILE)),
    loadBackendServicesKey(path.join(dataDir, BACKEND_SERVICES_KEY_FILE)),
  ]);
  return { signingKeys, backendServices: { privateJwk, publicJwk: publicJwk(privateJwk) } };
}
