import { ConfigurationError } from './errors.js';
import { urlOption } from './internal/validate.js';
import { forwardedMember, listMembers, trustedHops, type RequestSocket } from './trusted-proxy.js';

/** Validate `publicUrl`: an absolute https URL (http on loopback, or with `allowInsecureHttp`) without query or fragment. */
export function resolvePublicUrl(value: unknown, allowInsecureHttp: boolean): string | undefined {
  if (value === undefined) return undefined;
  const text = urlOption('publicUrl', value, allowInsecureHttp, { allowQuery: false });
  // The root the app calls `/`: one trailing slash is dropped so that root + "/orders" is one slash.
  return text.endsWith('/') ? text.slice(0, -1) : text;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
// What RFC 3986 §3.3 allows in a path besides percent-encodings: pchar (unreserved, sub-delims,
// ":", "@") and "/". WHATWG parsing leaves some characters outside that set as they are (`|`, `^`,
// `[`, `]`); they can only mean their percent-encoding, so they are compared as it.
const PATH_CHARACTER = /[A-Za-z0-9\-._~!$&'()*+,;=:@/%]/;
// The common case, already normal: no percent-encoding and nothing to encode.
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
// Characters no URI contains (RFC 3986 §2: controls, space, `\`), which WHATWG parsing would
// strip (tab, newline, leading and trailing spaces) or read as `/` (`\`): a `htu` with one would
// equal a URL it does not spell. Non-ASCII (an IRI) is encoded as UTF-8 by the parser, as clients do.
// eslint-disable-next-line no-control-regex
const NOT_IN_A_URI = /[\u0000-\u0020\u007f\\]/;

/**
 * RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based normalisation of an absolute http(s) URL,
 * without query and fragment (RFC 9449 §4.3 step 9): WHATWG parsing lowercases scheme and host,
 * drops the default port, resolves dot segments and turns an empty path into `/`; on top of that,
 * percent-encoded unreserved characters are decoded (§6.2.2.2: `%7E` is `~`, `%41` is `A`), the
 * hex of the others is uppercased (§6.2.2.1: `%2f` is `%2F`, which is not `/`: a reserved
 * character and its encoding differ, §2.2), and a character no path may hold raw is encoded.
 * `undefined` when `text` is not such a URL, or holds a character no URI does.
 */
export function normalizeHttpUrl(text: string): string | undefined {
  if (NOT_IN_A_URI.test(text)) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
    return undefined;
  }
  const raw = url.pathname;
  if (PLAIN_PATH.test(raw)) return `${url.protocol}//${url.host}${raw}`;
  let path = '';
  for (let i = 0; i < raw.length; i++) {
    const character = raw.charAt(i);
    const hex = raw.slice(i + 1, i + 3);
    if (character === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      const decoded = String.fromCharCode(Number.parseInt(hex, 16));
      path += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
      i += 2;
    } else if (character === '%' || !PATH_CHARACTER.test(character)) {
      // A `%` that starts no percent-encoding is a literal `%` (RFC 3986 has no other reading).
      path += `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
    } else path += character;
  }
  return `${url.protocol}//${url.host}${path}`;
}

// `publicUrl` normalised, without the trailing slash; one entry per configured `publicUrl`.
const roots = new Map<string, string | undefined>();
function normalizedRoot(publicUrl: string): string | undefined {
  if (roots.has(publicUrl)) return roots.get(publicUrl);
  const root = normalizeHttpUrl(`${publicUrl}/`)?.slice(0, -1);
  if (roots.size < 100) roots.set(publicUrl, root);
  return root;
}

// A `.` or `..` segment, literal or percent-encoded (WHATWG parsing resolves `%2e` too).
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?=\/|$)/i;

/**
 * The path of a request target (`/orders?x#y` → `/orders`; absolute-form → its path), or
 * `undefined` when normalisation would not give the path the router sees: WHATWG parsing resolves
 * dot segments and reads `\` as `/` (`/orders/%2e%2e/admin` → `/admin`), Express routes the path as
 * received (`/orders/:id/admin`, id ".."), so a proof made for one resource would pass on another.
 * Clients resolve dot segments before sending (RFC 3986 §5.2.4), so a request with one has no htu.
 */
function targetPath(target: string): string | undefined {
  let path = target;
  if (!target.startsWith('/')) {
    // RFC 9112 §3.2.2 absolute-form: only its path counts; its authority is the client's word.
    const authority = /^https?:\/\/[^/?#]*/i.exec(target);
    if (authority === null || !URL.canParse(target)) return undefined;
    path = target.slice(authority[0].length);
  }
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  if (DOT_SEGMENT.test(path) || path.includes('\\')) return undefined;
  return path === '' ? '/' : path;
}

export interface RequestUrlSource {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request target as received (Express: `req.originalUrl`, which keeps any mount path). */
  readonly originalUrl?: string | undefined;
  /** Node's `req.url`, when `originalUrl` is absent. */
  readonly url?: string | undefined;
  readonly socket?: RequestSocket | undefined;
}

/**
 * The URL the client addressed, normalised (see {@link normalizeHttpUrl}), without query: the
 * `htu` a DPoP proof must carry. It is `publicUrl` + the request path when `publicUrl` is set.
 * Otherwise it comes from `X-Forwarded-Proto` / `X-Forwarded-Host` (or `Host`) only when
 * `trustProxy` accepts the peer: `Host` is the client's word, and trusting it would let a proof
 * made for another service of the same key pass here (the replay across endpoints that
 * express-oauth2-jwt-bearer 1.9.1 fixed). Of several members (proxies append to these headers),
 * the one the outermost trusted proxy wrote counts (trusted-proxy.ts): the last with one proxy,
 * never the first, which the client wrote. `undefined` when the URL cannot be known.
 *
 * @see RFC 9449 §4.3 (9), RFC 3986 §6
 */
export function requestUrl(
  request: RequestUrlSource,
  publicUrl: string | undefined,
  trustProxy: ((address: string) => boolean) | undefined,
): string | undefined {
  const target = request.originalUrl ?? request.url;
  if (typeof target !== 'string') return undefined;
  const path = targetPath(target);
  if (path === undefined) return undefined;
  if (publicUrl !== undefined) {
    // A path with nothing to normalise (no dot segment: targetPath refused those) appends to the
    // normalised root as is: no URL parse per request.
    const root = PLAIN_PATH.test(path) ? normalizedRoot(publicUrl) : undefined;
    return root === undefined ? normalizeHttpUrl(`${publicUrl}${path}`) : `${root}${path}`;
  }
  const hops = trustedHops(request, trustProxy);
  if (hops === 0) return undefined;
  const { headers } = request;
  const proto = forwardedMember(listMembers(headers['x-forwarded-proto']), hops)?.toLowerCase() ?? 'https';
  const host =
    forwardedMember(listMembers(headers['x-forwarded-host']), hops) ??
    (typeof headers.host === 'string' ? headers.host.trim() : undefined);
  if (
    (proto !== 'https' && proto !== 'http') ||
    host === undefined ||
    host === '' ||
    /[/?#@\\,\s]/.test(host)
  ) {
    return undefined;
  }
  return normalizeHttpUrl(`${proto}://${host}${path}`);
}

/** DPoP needs the request URL from somewhere it can believe. */
export function requireUrlSource(publicUrl: string | undefined, trustProxy: unknown, feature: string): void {
  if (publicUrl === undefined && trustProxy === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: \`${feature}\` needs the URL clients call: set \`publicUrl\` to this app's external root ` +
        "(e.g. 'https://orders.example.com'), or `trustProxy` to the proxies whose X-Forwarded-Host/-Proto headers count.",
    );
  }
}
