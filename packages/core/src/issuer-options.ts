import type { JSONWebKeySet, JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import { ConfigurationError } from './errors.js';
import {
  resolveIntrospection,
  type IntrospectionOptions,
  type ResolvedIntrospection,
} from './introspection-options.js';
import { invalid, objectOption, stringList, urlOption, type KeysEnum } from './internal/validate.js';

/** JWS algorithms bearer-guard accepts in an allow-list. `none` is never one of them. */
export const SUPPORTED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
  'HS256', 'HS384', 'HS512',
] as const; // prettier-ignore
export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** Asymmetric algorithms accepted by default (RFC 8725 §3.1: an explicit allow-list). */
export const DEFAULT_ALGORITHMS: readonly JwsAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/** One trusted issuer and where its keys come from. Give exactly one key source, or none for discovery. */
export interface IssuerOptions {
  /** The issuer identifier; a token's `iss` must equal it exactly (RFC 9068 §4). */
  issuer: string;
  /** Audiences accepted from this issuer. Defaults to the top-level `audience`. */
  audience?: string | readonly string[] | undefined;
  /** The JWK Set URL. Without it (and without a local key) it is found by discovery (RFC 8414). */
  jwksUri?: string | undefined;
  /** A local JWK Set (no fetching). */
  jwks?: JSONWebKeySet | undefined;
  /** A local public key: SPKI PEM, a public JWK, or a `KeyObject`. */
  publicKey?: string | JWK | KeyObject | undefined;
  /** A shared secret for HS256/384/512. Never combined with asymmetric keys. */
  secret?: string | Uint8Array | undefined;
  /** The accepted `alg` values. Defaults to RS256, PS256, ES256, EdDSA; or HS256 with `secret`. */
  algorithms?: readonly JwsAlgorithm[] | undefined;
  /**
   * Validate opaque tokens by RFC 7662 introspection. A JWS whose `iss` is this issuer is still
   * validated locally, with the configured key source or else the keys at the discovered
   * `jwks_uri` (`introspection.localJwts: false` introspects it instead); everything that is not a
   * JWS is introspected, and a JWS of any other issuer is refused without a call.
   */
  introspection?: IntrospectionOptions | undefined;
}

export type KeySource =
  | { kind: 'jwksUri'; jwksUri: string }
  | { kind: 'discovery' }
  | { kind: 'jwks'; jwks: JSONWebKeySet }
  | { kind: 'publicKey'; publicKey: string | JWK | KeyObject }
  | { kind: 'secret'; secret: Uint8Array };

export interface ResolvedIssuer {
  issuer: string;
  audiences: readonly string[];
  algorithms: readonly JwsAlgorithm[];
  /** Where JWT keys come from; `undefined` when this issuer's tokens are only introspected. */
  keySource: KeySource | undefined;
  introspection: ResolvedIntrospection | undefined;
}

export const ISSUER_KEYS: KeysEnum<IssuerOptions> = {
  issuer: true, audience: true, jwksUri: true, jwks: true, publicKey: true, secret: true, algorithms: true,
  introspection: true,
}; // prettier-ignore

export function conflict(message: string): ConfigurationError {
  return new ConfigurationError('ERR_BEARER_CONFIG_CONFLICTING_OPTIONS', `bearer-guard: ${message}`);
}

function resolveAlgorithms(path: string, value: unknown, symmetric: boolean): JwsAlgorithm[] {
  if (value === undefined) return symmetric ? ['HS256'] : [...DEFAULT_ALGORITHMS];
  const list = stringList(path, value);
  for (const alg of list) {
    if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
      throw invalid(path, alg, `one of ${SUPPORTED_ALGORITHMS.join(', ')} ("none" is never accepted)`);
    }
    // RFC 8725 §3.1/§2.1: HMAC and public-key algorithms must not share one allow-list, or an
    // attacker signs HS256 with the public key as the secret.
    if (alg.startsWith('HS') !== symmetric) {
      throw conflict(
        symmetric
          ? `\`${path}\` lists ${alg}, but a shared \`secret\` only verifies HS256/HS384/HS512.`
          : `\`${path}\` lists ${alg}, which needs a shared \`secret\`; HS algorithms are never mixed with public keys.`,
      );
    }
  }
  return list as JwsAlgorithm[];
}

function resolveKeySource(path: string, raw: Record<string, unknown>, allowHttp: boolean): KeySource {
  const given = (['jwksUri', 'jwks', 'publicKey', 'secret'] as const).filter((key) => raw[key] !== undefined);
  if (given.length > 1) {
    throw conflict(
      `${path}: give only one of \`jwksUri\`, \`jwks\`, \`publicKey\` or \`secret\`; got ${given.join(' and ')}.`,
    );
  }
  const { jwksUri, jwks, publicKey, secret } = raw;
  if (jwksUri !== undefined)
    return { kind: 'jwksUri', jwksUri: urlOption(`${path}jwksUri`, jwksUri, allowHttp) };
  if (jwks !== undefined) {
    if (
      objectOption(`${path}jwks`, jwks)?.['keys'] === undefined ||
      !Array.isArray((jwks as JSONWebKeySet).keys)
    ) {
      throw invalid(`${path}jwks`, jwks, 'a JWK Set: { keys: [...] }');
    }
    return { kind: 'jwks', jwks: jwks as JSONWebKeySet };
  }
  if (publicKey !== undefined) {
    if (typeof publicKey === 'string' && !publicKey.includes('-----BEGIN PUBLIC KEY-----')) {
      throw invalid(
        `${path}publicKey`,
        '(a string)',
        'an SPKI PEM ("-----BEGIN PUBLIC KEY-----"), a public JWK or a KeyObject',
      );
    }
    if (typeof publicKey !== 'string' && typeof publicKey !== 'object') {
      throw invalid(`${path}publicKey`, publicKey, 'an SPKI PEM, a public JWK or a KeyObject');
    }
    return { kind: 'publicKey', publicKey: publicKey as string | JWK | KeyObject };
  }
  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (!(bytes instanceof Uint8Array))
      throw invalid(`${path}secret`, '(hidden)', 'a string or a Uint8Array');
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
    if (bytes.byteLength < 32)
      throw invalid(`${path}secret`, '(hidden)', 'at least 32 bytes long (RFC 7518 §3.2)');
    return { kind: 'secret', secret: bytes };
  }
  return { kind: 'discovery' };
}

export function resolveIssuer(
  path: string,
  raw: Record<string, unknown>,
  fallbackAudience: readonly string[] | undefined,
  allowHttp: boolean,
): ResolvedIssuer {
  if (raw['issuer'] === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: option \`${path}issuer\` is required: the issuer identifier your tokens carry in \`iss\`, e.g. "https://as.example.com".`,
    );
  }
  const issuer = urlOption(`${path}issuer`, raw['issuer'], allowHttp, { allowQuery: false });
  const introspection =
    raw['introspection'] === undefined
      ? undefined
      : resolveIntrospection(`${path}introspection`, raw['introspection'], allowHttp);
  let keySource: KeySource | undefined = resolveKeySource(path, raw, allowHttp);
  if (introspection !== undefined && !introspection.localJwts) {
    // The opt-out: this issuer's JWTs go to the introspection endpoint, so no keys are fetched.
    if (keySource.kind !== 'discovery') {
      throw conflict(
        `\`${path}introspection.localJwts\` is false (introspect this issuer's JWTs), but \`${path}${keySource.kind}\` gives keys to validate them locally; remove one of them.`,
      );
    }
    keySource = undefined;
  }
  const audiences =
    raw['audience'] === undefined ? fallbackAudience : stringList(`${path}audience`, raw['audience']);
  if (audiences === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      'bearer-guard: option `audience` is required: the identifier of this API that tokens carry in `aud` (RFC 9068 §4), e.g. "https://orders.example.com".',
    );
  }
  const algorithms = resolveAlgorithms(`${path}algorithms`, raw['algorithms'], keySource?.kind === 'secret');
  return { issuer, audiences, algorithms, keySource, introspection };
}
