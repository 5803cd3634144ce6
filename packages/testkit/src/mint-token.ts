import { createHmac, randomUUID } from 'node:crypto';

import { SignJWT } from 'jose';
import type { JWTHeaderParameters } from 'jose';

import type { StubKey } from './key-store.js';
import type { SignOptions, TokenClaims } from './types.js';

/** Default `typ` of minted tokens (RFC 9068 JWT access tokens). */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Default lifetime of minted tokens, in seconds. */
export const DEFAULT_EXPIRES_IN = 300;

/** What the default claims depend on. */
export interface ClaimDefaults {
  readonly issuer: string;
  readonly audience: string;
}

/** Current time in epoch seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * The payload of a minted token: the default claims (shaped by the time options), overridden by
 * `claims`; claims whose value is `undefined` are removed.
 */
export function buildClaims(
  defaults: ClaimDefaults,
  claims: TokenClaims = {},
  options: SignOptions = {},
): Record<string, unknown> {
  const now = nowSeconds();
  const expiresIn = options.expiresIn === undefined ? DEFAULT_EXPIRES_IN : options.expiresIn;
  const payload: Record<string, unknown> = {
    iss: defaults.issuer,
    aud: defaults.audience,
    sub: 'user-123',
    client_id: 'test-client',
    iat: options.issuedAt ?? now,
    ...(options.notBefore === undefined ? {} : { nbf: now + options.notBefore }),
    ...(expiresIn === null ? {} : { exp: now + expiresIn }),
    jti: randomUUID(),
    scope: 'read write',
    ...claims,
  };
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
}

/** The protected header for `key`: `alg`, `kid`, `typ` (unless `null`), then `extra`. */
export function buildHeader(
  key: Pick<StubKey, 'alg' | 'kid'>,
  typ: string | null | undefined,
  extra: Record<string, unknown> = {},
): JWTHeaderParameters {
  return {
    alg: key.alg,
    kid: key.kid,
    ...(typ === null ? {} : { typ: typ ?? ACCESS_TOKEN_TYP }),
    ...extra,
  };
}

/** Signs `payload` with `key` using jose; extension names listed in `crit` are declared understood. */
export async function signPayload(
  key: StubKey,
  payload: Record<string, unknown>,
  header: JWTHeaderParameters,
): Promise<string> {
  const crit: Record<string, boolean> = {};
  if (Array.isArray(header.crit)) {
    for (const name of header.crit) if (typeof name === 'string' && name !== 'b64') crit[name] = true;
  }
  return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey, { crit });
}

/** Base64url of the UTF-8 JSON of `value` (one compact-serialization segment). */
export function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Parses a compact JWS segment back to JSON. */
export function decodeSegment(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

/** Splits a compact JWS into its three segments; throws if it does not have three. */
export function splitCompact(token: string): [header: string, payload: string, signature: string] {
  const parts = token.split('.');
  const [header, payload, signature] = parts;
  if (parts.length !== 3 || header === undefined || payload === undefined || signature === undefined) {
    throw new Error('testkit: not a compact JWS');
  }
  return [header, payload, signature];
}

/*
 * Deliberately broken tokens. These are hand-built on purpose: a JOSE library refuses to produce
 * them, and producing them is the attack being simulated.
 */

/** An unsecured JWT (`alg: none`) with an empty signature segment. */
export function unsecuredToken(payload: Record<string, unknown>, typ: string = ACCESS_TOKEN_TYP): string {
  return `${encodeSegment({ alg: 'none', typ })}.${encodeSegment(payload)}.`;
}

/** HS256 "signature" keyed with `secret` (the algorithm-confusion attack uses a public key's PEM bytes). */
export function hmacSha256Token(
  payload: Record<string, unknown>,
  header: Record<string, unknown>,
  secret: string | Buffer,
): string {
  const signingInput = `${encodeSegment({ ...header, alg: 'HS256' })}.${encodeSegment(payload)}`;
  const signature = createHmac('sha256', secret).update(signingInput, 'ascii').digest('base64url');
  return `${signingInput}.${signature}`;
}

/** `token` with its payload segment replaced by `payload`, header and signature kept. */
export function replacePayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = splitCompact(token);
  return `${header}.${encodeSegment(payload)}.${signature}`;
}
