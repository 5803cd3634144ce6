import { deepFreeze } from './deep-freeze.js';
import { BearerGuardError } from './errors.js';

/**
 * What a bearer token is, read before anything else is done with it:
 * - `jws`: a JWS in the compact serialization (RFC 7515 §7.1), its claims readable here;
 * - `jwe`: a JWE in the compact serialization (RFC 7516 §7.1), which only its issuer can decrypt;
 * - `opaque`: anything else, which only its issuer can interpret (RFC 7662 §2).
 */
export type CompactToken = { readonly kind: 'opaque' } | { readonly kind: 'jwe' } | CompactJws;

/**
 * A JWS in the compact serialization, read once: routing and verification use the same parse, so
 * the `iss` that chose the issuer is the `iss` that is verified (no second reading of duplicate
 * members or odd encodings can tell another story).
 */
export interface CompactJws {
  readonly kind: 'jws';
  /** The JOSE Header (RFC 7515 §4), unverified. */
  readonly header: Readonly<Record<string, unknown>>;
  /** The JWT Claims Set (RFC 7519 §7.2), unverified. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** ASCII(BASE64URL(header) || '.' || BASE64URL(payload)): what the signature covers (RFC 7515 §5.2). */
  readonly signingInput: string;
  /** BASE64URL(JWS Signature). */
  readonly signature: string;
}

const OPAQUE: CompactToken = Object.freeze({ kind: 'opaque' });
const JWE: CompactToken = Object.freeze({ kind: 'jwe' });

/** The base64url alphabet (RFC 4648 §5) and nothing else: no padding, no `+` or `/`. */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Segments of that alphabet and the dots between them: one pass over a whole compact token. */
const BASE64URL_SEGMENTS = /^[A-Za-z0-9_.-]*$/;
/** Everything a lenient decoder skips over: what is in neither base64 alphabet, padding included. */
const NOT_BASE64 = /[^A-Za-z0-9+/_-]/g;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The 6-bit value of each base64url character, by char code. */
const SEXTETS = new Int8Array(128).fill(-1);
for (let value = 0; value < ALPHABET.length; value++) SEXTETS[ALPHABET.charCodeAt(value)] = value;

const utf8 = new TextDecoder();
/** jose's decoder: a JOSE header or claims set that is not valid UTF-8 is malformed (RFC 7515 §5.2). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether `segment` is the one BASE64URL encoding of its bytes that RFC 7515 §2 allows: the
 * base64url alphabet without `=` padding, a length that is not 1 more than a multiple of 4 (no
 * encoding ends with a lone sextet), and zero pad bits in the last character (RFC 4648 §3.5). A
 * lenient decoder (`atob`, `Buffer.from(…, 'base64url')`) accepts the other spellings and reads the
 * same bytes, so without this check one signed token would have many strings, and a revocation or a
 * cache entry that holds one of them would miss the others.
 */
export function isCanonicalBase64url(segment: string): boolean {
  return BASE64URL.test(segment) && endsCanonically(segment);
}

/** The length and last-character rules of {@link isCanonicalBase64url}, for a segment of the alphabet. */
function endsCanonically(segment: string): boolean {
  const tail = segment.length % 4;
  if (tail === 1) return false;
  if (tail === 0) return true;
  // 2 characters carry 1 byte and 4 pad bits, 3 characters carry 2 bytes and 2 pad bits.
  const last = SEXTETS[segment.charCodeAt(segment.length - 1)] ?? -1;
  return (last & (tail === 2 ? 0x0f : 0x03)) === 0;
}

function parseJson(bytes: Uint8Array, decoder = utf8): unknown {
  try {
    // TextDecoder drops a leading BOM, as jose's decoder does: read the header as jose would.
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The JOSE header in a token's first segment as the most lenient decoder would read it (both
 * alphabets, padding and stray characters skipped), or `undefined` when it holds no JSON object. A
 * padded or re-spelled header must be recognised as one, so that it is refused, not introspected.
 * `strict` tells whether it is also what jose would read: canonical BASE64URL of UTF-8 JSON.
 */
function lenientHeader(segment: string): { header: Record<string, unknown>; strict: boolean } | undefined {
  const canonical = isCanonicalBase64url(segment);
  const bytes = Buffer.from(canonical ? segment : segment.replace(NOT_BASE64, ''), 'base64');
  const strict = canonical ? parseJson(bytes, strictUtf8) : undefined;
  if (isObject(strict)) return { header: strict, strict: true };
  const header = parseJson(bytes);
  return isObject(header) ? { header, strict: false } : undefined;
}

/**
 * Headers read before, by their exact segment: the tokens of one issuer and key share one header
 * (`{"alg":"ES256","typ":"at+jwt","kid":"…"}`), so its decoding and parse are done once per
 * header, not once per token. Only what jose would read the same (`strict`), frozen, since every
 * token with that header gets the same object; bounded in entries and in the size of a segment,
 * and emptied when full, so a caller who sends a new header every time costs a parse each, as
 * without it, and no memory.
 */
const headers = new Map<string, { header: Record<string, unknown>; strict: true }>();
const MAX_HEADERS = 64;
const MAX_CACHED_SEGMENT = 1024;

function knownHeader(segment: string): ReturnType<typeof lenientHeader> {
  const known = headers.get(segment);
  if (known !== undefined) return known;
  const read = lenientHeader(segment);
  if (read?.strict !== true || segment.length > MAX_CACHED_SEGMENT) return read;
  if (headers.size >= MAX_HEADERS) headers.clear();
  const entry = { header: deepFreeze(read.header), strict: true as const };
  // A copy of the segment, not the slice itself: V8's slice shares the token's string, and the key
  // would keep that whole token (a bearer credential, up to an HTTP header's size) alive as long as
  // the header is known. The segment is canonical BASE64URL, so ASCII: latin1 copies it exactly.
  headers.set(Buffer.from(segment, 'latin1').toString('latin1'), entry);
  return entry;
}

function malformed(reason: string): BearerGuardError {
  return new BearerGuardError('ERR_BEARER_TOKEN_MALFORMED', { cause: new Error(reason) });
}

/**
 * Read what a bearer token is (see {@link CompactToken}). The rule: a token whose first
 * dot-separated segment decodes (leniently) to a JSON object is a JOSE object, never an opaque
 * token; it must then be a compact JWS (3 segments) or JWE (5 segments), every segment canonical
 * BASE64URL (RFC 7515 §2), its header a JSON object with a string `alg` (RFC 7515 §4.1.1, RFC 7516
 * §4.1.1), and a JWS's payload a JSON object (the JWT Claims Set, RFC 7519 §7.2). Anything else
 * with that header is refused here. A token without such a first segment (no dot, or one that does
 * not decode to a JSON object) is opaque.
 *
 * Does NOT verify anything: the claims are unverified, fit only to choose how to validate.
 *
 * @throws BearerGuardError `ERR_BEARER_TOKEN_MALFORMED`
 * @see RFC 7515 §2, §7.1; RFC 7516 §7.1; RFC 4648 §3.5, §5
 */
export function readCompactToken(token: string): CompactToken {
  const dot = token.indexOf('.');
  if (dot === -1) return OPAQUE;
  const read = knownHeader(token.slice(0, dot));
  if (read === undefined) return OPAQUE;
  const { header } = read;
  const segments = token.split('.');
  if (segments.length !== 3 && segments.length !== 5) {
    throw malformed(`a JOSE header in a token of ${String(segments.length)} segments`);
  }
  if (!BASE64URL_SEGMENTS.test(token) || !segments.every(endsCanonically)) {
    throw malformed('a segment is not canonical BASE64URL (RFC 7515 §2)');
  }
  if (typeof header['alg'] !== 'string') throw malformed('a JOSE header without a string alg');
  if (segments.length === 5) return JWE;
  if (!read.strict) throw malformed('a JOSE header that is not UTF-8 JSON');
  const [encodedHeader = '', payload = '', signature = ''] = segments;
  const claims = parseJson(Buffer.from(payload, 'base64url'), strictUtf8);
  if (!isObject(claims)) throw malformed('a JWS payload that is not a JSON object');
  return {
    kind: 'jws',
    header,
    claims,
    signingInput: token.slice(0, encodedHeader.length + 1 + payload.length),
    signature,
  };
}
