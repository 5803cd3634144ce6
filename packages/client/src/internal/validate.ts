import { TokenClientConfigurationError, type TokenClientConfigurationErrorCode } from '../errors.js';

/** A record with exactly the keys of T, so TypeScript keeps a list of known options complete. */
export type KeysEnum<T> = { [K in keyof Required<T>]: true };

/** How a received value is shown in a message. Secret options show only their type, never content. */
function describe(value: unknown, secret: boolean): string {
  if (secret) return value === undefined ? 'undefined' : `a value of type ${typeof value}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'symbol' ? value.toString() : `${value as number | boolean | bigint | undefined}`;
}

export function configError(
  code: TokenClientConfigurationErrorCode,
  message: string,
): TokenClientConfigurationError {
  return new TokenClientConfigurationError(code, `@bearer-guard/client: ${message}`);
}

export function invalid(
  path: string,
  value: unknown,
  expected: string,
  options: { secret?: boolean; code?: TokenClientConfigurationErrorCode } = {},
): TokenClientConfigurationError {
  const { secret = false, code = 'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION' } = options;
  return configError(code, `\`${path}\` must be ${expected}; received ${describe(value, secret)}.`);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Reject keys that are not options, with a "did you mean" hint. `undefined` values count as absent. */
export function rejectUnknownKeys(path: string, value: object, known: Record<string, true>): void {
  const names = Object.keys(known);
  for (const [key, entry] of Object.entries(value)) {
    if (entry === undefined || Object.hasOwn(known, key)) continue;
    const hint = suggest(key, names);
    const where = path === '' ? `\`${key}\`` : `\`${path}.${key}\``;
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_UNKNOWN_OPTION',
      `${where} is not an option${hint === undefined ? '.' : `; did you mean \`${hint}\`?`} ` +
        `Known options${path === '' ? '' : ` of \`${path}\``}: ${names.join(', ')}.`,
    );
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function booleanOption(path: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(path, value, '`true` or `false`');
  return value;
}

export function numberOption(
  path: string,
  value: unknown,
  fallback: number,
  { min = 0, max = Number.MAX_SAFE_INTEGER, unit = '' } = {},
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = `an integer from ${String(min)} to ${String(max)}`;
    throw invalid(path, value, unit === '' ? range : `${range} (${unit})`);
  }
  return value;
}

export function nonEmptyString(path: string, value: unknown, { secret = false } = {}): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(path, value, 'a non-empty string', { secret });
  }
  return value;
}

export function oneOf<T extends string>(path: string, value: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw invalid(path, value, `one of ${allowed.map((entry) => `"${entry}"`).join(', ')}`);
  }
  return value as T;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
// 127.0.0.0/8 as the URL parser normalises IPv4 hosts; a DNS name such as `127.0.0.1.nip.io` is not loopback.
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export function isLoopback(url: URL): boolean {
  return LOOPBACK.has(url.hostname) || LOOPBACK_IPV4.test(url.hostname);
}

/**
 * Whether a URL may carry credentials or tokens: https, or http on loopback, or http anywhere when
 * `allowInsecureHttp` is set. The same rule as `@bearer-guard/core`.
 */
export function isSecureEnough(url: URL, allowInsecureHttp: boolean): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (allowInsecureHttp || isLoopback(url));
}

/**
 * An absolute http(s) URL that may carry credentials (see {@link isSecureEnough}), without a
 * fragment, and without userinfo: a password in a URL would end up in every error's `endpoint`.
 */
export function urlOption(
  path: string,
  value: unknown,
  allowInsecureHttp: boolean,
  { allowQuery = true } = {},
): string {
  const text = nonEmptyString(path, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(path, value, 'an absolute URL such as "https://as.example"');
  }
  if (url.username !== '' || url.password !== '') {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      `\`${path}\` must not contain a user name or password; pass credentials as \`clientSecret\` or \`privateKey\`.`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(path, value, 'an https URL');
  if (!isSecureEnough(url, allowInsecureHttp)) {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      `\`${path}\` is a plain http URL (${url.origin}). Client credentials and tokens must travel over https; ` +
        'use an https URL, or set `allowInsecureHttp: true` for a test setup.',
    );
  }
  if (url.hash !== '' || (!allowQuery && url.search !== '')) {
    throw invalid(path, value, `a URL without ${allowQuery ? 'a fragment' : 'a query or fragment'}`);
  }
  return text;
}
