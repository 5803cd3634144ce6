import type { CertificateSource } from './certificate-binding.js';
import { DpopNonces } from './dpop-nonce.js';
import { DPOP_ALGORITHMS } from './dpop-proof.js';
import { MemoryDpopReplayStore, type DpopReplayStore } from './dpop-replay.js';
import { ConfigurationError } from './errors.js';
import {
  booleanOption,
  invalid,
  isPlainObject,
  numberOption,
  objectOption,
  rejectUnknownKeys,
  stringList,
} from './internal/validate.js';

/** `dpop`: accept DPoP-bound access tokens (RFC 9449) with the `DPoP` scheme and check their proofs. */
export interface DpopOptions {
  /** Refuse plain bearer tokens: every request must present a DPoP-bound token. Defaults to `false`. */
  required?: boolean | undefined;
  /** Accepted proof algorithms (asymmetric only). Defaults to {@link DPOP_ALGORITHMS}. */
  algorithms?: readonly string[] | undefined;
  /** How far `iat` may be from now, either way, in seconds. Defaults to `300`. */
  iatWindow?: number | undefined;
  /**
   * Server nonces (RFC 9449 §9): proofs must carry a current nonce derived from `secret` (at least
   * 32 bytes; share it between replicas) and a time step (`step` seconds, default `60`).
   */
  nonce?: { secret: string | Uint8Array; step?: number | undefined } | undefined;
  /**
   * Where used proofs are remembered. Defaults to a {@link MemoryDpopReplayStore}: in memory, 100 000
   * live proofs, 10 000 per proof key.
   */
  replayStore?: DpopReplayStore | undefined;
}

/** `mtls`: accept certificate-bound access tokens (RFC 8705 §3). */
export interface MtlsOptions {
  /** Where the client certificate comes from. */
  certificate: CertificateSource;
}

export interface ResolvedDpop {
  required: boolean;
  algorithms: readonly string[];
  iatWindow: number;
  nonces: DpopNonces | undefined;
  replayStore: DpopReplayStore;
}

export interface ResolvedMtls {
  certificate: CertificateSource;
}

const SYMMETRIC_OR_NONE = /^(none|HS\d+)$/i;

export function resolveDpop(value: unknown): ResolvedDpop | undefined {
  if (value === undefined || value === false) return undefined;
  const raw = value === true ? {} : objectOption('dpop', value);
  if (raw === undefined) throw invalid('dpop', value, 'true or an object such as { required, nonce }');
  rejectUnknownKeys('dpop', raw, {
    required: true,
    algorithms: true,
    iatWindow: true,
    nonce: true,
    replayStore: true,
  });
  const algorithms =
    raw['algorithms'] === undefined ? [...DPOP_ALGORITHMS] : stringList('dpop.algorithms', raw['algorithms']);
  for (const [index, alg] of algorithms.entries()) {
    if (SYMMETRIC_OR_NONE.test(alg) || !(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
      throw invalid(
        `dpop.algorithms[${String(index)}]`,
        alg,
        `an asymmetric JWS algorithm (RFC 9449 §4.3: never none or a MAC), one of ${DPOP_ALGORITHMS.join(', ')}`,
      );
    }
  }
  let nonces: DpopNonces | undefined;
  const nonce = objectOption('dpop.nonce', raw['nonce']);
  if (raw['nonce'] !== undefined && nonce === undefined)
    throw invalid('dpop.nonce', raw['nonce'], 'an object { secret, step }');
  if (nonce !== undefined) {
    rejectUnknownKeys('dpop.nonce', nonce, { secret: true, step: true });
    const secret = nonce['secret'];
    const bytes =
      typeof secret === 'string'
        ? Buffer.from(secret, 'utf8')
        : secret instanceof Uint8Array
          ? Buffer.from(secret)
          : undefined;
    if (bytes === undefined || bytes.length < 32) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        `bearer-guard: option \`dpop.nonce.secret\` must be a string or bytes of at least 32 bytes (nonces must be ` +
          `unpredictable, RFC 9449 §9); received ${bytes === undefined ? typeof secret : `${String(bytes.length)} bytes`}. ` +
          'Generate one with `openssl rand -base64 32` and share it between replicas.',
      );
    }
    nonces = new DpopNonces(
      bytes,
      numberOption('dpop.nonce.step', nonce['step'], 60, { min: 1, max: 3600, unit: 'seconds' }),
    );
  }
  const store = raw['replayStore'];
  if (
    store !== undefined &&
    (typeof store !== 'object' ||
      store === null ||
      typeof (store as DpopReplayStore).setIfAbsent !== 'function')
  ) {
    throw invalid('dpop.replayStore', store, 'an object with setIfAbsent(key, ttlMs, jkt)');
  }
  return {
    required: booleanOption('dpop.required', raw['required'], false),
    algorithms,
    iatWindow: numberOption('dpop.iatWindow', raw['iatWindow'], 300, { min: 1, max: 3600, unit: 'seconds' }),
    nonces,
    replayStore: (store as DpopReplayStore | undefined) ?? new MemoryDpopReplayStore(),
  };
}

export function resolveMtls(value: unknown, trustProxy: unknown): ResolvedMtls | undefined {
  if (value === undefined) return undefined;
  const raw = objectOption('mtls', value);
  if (raw === undefined) throw invalid('mtls', value, "an object such as { certificate: 'socket' }");
  rejectUnknownKeys('mtls', raw, { certificate: true });
  const certificate = raw['certificate'];
  if (certificate === 'socket' || typeof certificate === 'function') {
    return { certificate: certificate as CertificateSource };
  }
  const header = isPlainObject(certificate) ? certificate : undefined;
  if (header === undefined) {
    throw invalid(
      'mtls.certificate',
      certificate,
      "'socket', { header, format: 'rfc9440' | 'xfcc' | 'nginx' }, or a function (req) => certificate",
    );
  }
  rejectUnknownKeys('mtls.certificate', header, { header: true, format: true });
  const name = header['header'];
  if (typeof name !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw invalid('mtls.certificate.header', name, "a header name such as 'client-cert'");
  }
  const format = header['format'];
  if (format !== 'rfc9440' && format !== 'xfcc' && format !== 'nginx') {
    throw invalid('mtls.certificate.format', format, "'rfc9440', 'xfcc' or 'nginx'");
  }
  if (trustProxy === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: \`mtls.certificate.header\` is believed only from a proxy: set \`trustProxy\` to the addresses of the ` +
        'proxies that terminate TLS and overwrite that header, or they and anyone else could claim any certificate.',
    );
  }
  return { certificate: { header: name.toLowerCase(), format } };
}
