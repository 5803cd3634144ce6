import { createHash, X509Certificate } from 'node:crypto';

import { trustedHops, type RequestSocket } from './trusted-proxy.js';

/** Proxy header formats of the client certificate. */
export type CertificateHeaderFormat = 'rfc9440' | 'xfcc' | 'nginx';

/**
 * Where the client certificate comes from (RFC 8705 §3): the TLS socket; a header set by a
 * TLS-terminating proxy that `trustProxy` accepts (RFC 9440 `Client-Cert`, Envoy
 * `x-forwarded-client-cert`, nginx `$ssl_client_escaped_cert`); or a function of the request that
 * returns the certificate (DER bytes or PEM text), or `undefined` when there is none.
 */
export type CertificateSource =
  | 'socket'
  | { header: string; format: CertificateHeaderFormat }
  | ((request: CertificateRequest) => Uint8Array | string | undefined);

/** What a certificate source reads: Express's `req` fits as is. */
export interface CertificateRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly socket?: RequestSocket | undefined;
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('base64url');

/** The DER of a PEM certificate (or of DER bytes), checked to be one X.509 certificate. */
function derOf(certificate: Uint8Array | string): Uint8Array | undefined {
  try {
    return new X509Certificate(certificate).raw;
  } catch {
    return undefined;
  }
}

/** RFC 9440 §2.2: `Client-Cert: :<base64 DER>:`, a structured-field byte sequence. */
function fromRfc9440(value: string): string | undefined {
  const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(value.trim());
  if (match?.[1] === undefined) return undefined;
  const der = derOf(Buffer.from(match[1], 'base64'));
  return der === undefined ? undefined : sha256(der);
}

/**
 * Envoy XFCC: comma-separated elements, one per proxy, of `;`-separated `key=value` pairs (values
 * may be quoted), one appended by each proxy (Envoy `APPEND_FORWARD`) about the peer it received
 * the request from. The element that counts is the one the outermost trusted proxy added, the
 * `hops`-th from the right (trusted-proxy.ts): with one proxy, the last. `Hash` is the hex SHA-256
 * of the DER, which is the thumbprint without parsing anything; else `Cert`, URL-encoded PEM.
 */
function fromXfcc(value: string, hops: number): string | undefined {
  const elements: string[][] = [[]];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const character = value.charAt(i);
    if (character === '"') quoted = !quoted;
    else if (character === '\\' && quoted) current += value.charAt(++i);
    else if (!quoted && (character === ';' || character === ',')) {
      elements[elements.length - 1]?.push(current);
      current = '';
      if (character === ',') elements.push([]);
    } else current += character;
  }
  // An unterminated quote hides the commas after it: the element a client wrote could then swallow
  // the one our proxy appended (Envoy APPEND_FORWARD), and its Hash would count as the last one.
  if (quoted) return undefined;
  elements[elements.length - 1]?.push(current);
  const pairs = new Map<string, string>();
  for (const pair of elements[Math.max(0, elements.length - hops)] ?? []) {
    const equals = pair.indexOf('=');
    if (equals > 0) pairs.set(pair.slice(0, equals).trim().toLowerCase(), pair.slice(equals + 1).trim());
  }
  const hash = pairs.get('hash');
  if (hash !== undefined) {
    return /^[0-9a-fA-F]{64}$/.test(hash) ? Buffer.from(hash, 'hex').toString('base64url') : undefined;
  }
  const cert = pairs.get('cert');
  return cert === undefined ? undefined : fromEscapedPem(cert);
}

/** nginx `$ssl_client_escaped_cert` (and XFCC `Cert`): URL-encoded PEM. */
function fromEscapedPem(value: string): string | undefined {
  let pem: string;
  try {
    pem = decodeURIComponent(value.trim());
  } catch {
    return undefined;
  }
  const der = derOf(pem);
  return der === undefined ? undefined : sha256(der);
}

const FROM_HEADER: Readonly<
  Record<CertificateHeaderFormat, (value: string, hops: number) => string | undefined>
> = {
  rfc9440: fromRfc9440,
  xfcc: fromXfcc,
  nginx: fromEscapedPem,
};

/**
 * The RFC 8705 §3.1 thumbprint (BASE64URL(SHA-256(DER))) of the request's client certificate, or
 * `undefined` when there is none we can believe: a header counts only from a peer `trustProxy`
 * accepts (anyone else could have written it), and a repeated header counts as none.
 *
 * @see RFC 8705 §3, RFC 9440
 */
export function certificateThumbprint(
  request: CertificateRequest,
  source: CertificateSource,
  trustProxy: ((address: string) => boolean) | undefined,
): string | undefined {
  if (source === 'socket') {
    const certificate = request.socket?.getPeerCertificate?.(false);
    const raw =
      certificate !== null && typeof certificate === 'object'
        ? (certificate as { raw?: unknown }).raw
        : undefined;
    return raw instanceof Uint8Array && raw.length > 0 ? sha256(raw) : undefined;
  }
  if (typeof source === 'function') {
    const certificate = source(request);
    if (certificate === undefined) return undefined;
    const der = derOf(certificate);
    return der === undefined ? undefined : sha256(der);
  }
  const hops = trustedHops(request, trustProxy);
  if (hops === 0) return undefined;
  const value = request.headers[source.header];
  return typeof value === 'string' && value !== '' ? FROM_HEADER[source.format](value, hops) : undefined;
}
