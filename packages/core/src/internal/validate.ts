import { ConfigurationError } from '../errors.js';

/** A record with exactly the keys of T, so TypeScript keeps a list of known options complete. */
export type KeysEnum<T> = { [K in keyof Required<T>]: true };

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'symbol' ? value.toString() : `${value as number | boolean | bigint | undefined}`;
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

/** The closest known name, when one is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    const prefix = candidate.startsWith(name) || name.startsWith(candidate);
    if (distance < bestDistance || (prefix && best === undefined)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

export function invalid(path: string, value: unknown, expected: string): ConfigurationError {
  return new ConfigurationError(
    'ERR_BEARER_CONFIG_INVALID_OPTION',
    `bearer-guard: option \`${path}\` must be ${expected}; received ${describe(value)}.`,
  );
}

/** Reject keys that are not options, with a "did you mean" hint. `undefined` values count as absent. */
export function rejectUnknownKeys(path: string, value: object, known: Record<string, true>): void {
  const names = Object.keys(known);
  for (const [key, entry] of Object.entries(value)) {
    if (entry === undefined || Object.hasOwn(known, key)) continue;
    const hint = suggest(key, names);
    const where = path === '' ? `\`${key}\`` : `\`${path}.${key}\``;
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
      `bearer-guard: ${where} is not an option${hint === undefined ? '.' : `; did you mean \`${hint}\`?`} ` +
        `Known options${path === '' ? '' : ` of \`${path}\``}: ${names.join(', ')}.`,
    );
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectOption(path: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw invalid(path, value, 'an object');
  return value;
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
  { min = 0, max = Number.MAX_SAFE_INTEGER, integer = true, unit = '' } = {},
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (integer && !Number.isInteger(value)) ||
    value < min ||
    value > max
  ) {
    const kind = integer ? 'an integer' : 'a finite number';
    throw invalid(
      path,
      value,
      `${kind} from ${String(min)} to ${String(max)}${unit === '' ? '' : ` (${unit})`}`,
    );
  }
  return value;
}

export function nonEmptyString(path: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(path, value, 'a non-empty string');
  return value;
}

/** One string or a non-empty array of strings, as an array. */
export function stringList(path: string, value: unknown): string[] {
  if (typeof value === 'string') return [nonEmptyString(path, value)];
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(path, value, 'a non-empty string or a non-empty array of strings');
  }
  return value.map((entry, index) => nonEmptyString(`${path}[${String(index)}]`, entry));
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
// 127.0.0.0/8 as the URL parser normalises IPv4 hosts; a DNS name such as `127.0.0.1.nip.io` is not loopback.
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Why a URL may not be used for keys, metadata or tokens. */
export type UrlProblem = 'not-absolute' | 'not-https' | 'plain-http' | 'userinfo' | 'fragment' | 'query';

/** Each {@link UrlProblem} as the end of a sentence about the URL. */
export const URL_PROBLEMS: Readonly<Record<UrlProblem, string>> = {
  'not-absolute': 'is not an absolute URL',
  'not-https': 'is not an https URL',
  'plain-http':
    'is a plain http URL; keys and tokens must travel over https (`allowInsecureHttp: true` allows it for a test setup)',
  userinfo: 'contains a user name or password',
  fragment: 'has a fragment',
  query: 'has a query',
};

/**
 * The rule every URL bearer-guard fetches or advertises follows: absolute; https, or http on
 * loopback (or anywhere when `allowHttp`); no user name or password (fetch() refuses them, and
 * they would end up in logs); no fragment, and for issuers no query (RFC 8414 §2: "no query or
 * fragment components"). Returns the first problem, or `undefined` when the URL may be used.
 */
export function urlProblem(
  text: string,
  allowHttp: boolean,
  { allowQuery = true } = {},
): UrlProblem | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not-absolute';
  }
  // First, so that no other message repeats a password.
  if (url.username !== '' || url.password !== '') return 'userinfo';
  if (url.protocol === 'http:') {
    if (!allowHttp && !LOOPBACK.has(url.hostname) && !LOOPBACK_IPV4.test(url.hostname)) return 'plain-http';
  } else if (url.protocol !== 'https:') {
    return 'not-https';
  }
  if (url.hash !== '') return 'fragment';
  if (!allowQuery && url.search !== '') return 'query';
  return undefined;
}

/** `text` for a message: without any user name or password, and cut to 200 characters. */
export function displayUrl(text: string): string {
  let shown = text;
  try {
    const url = new URL(text);
    if (url.username !== '' || url.password !== '') {
      url.username = '';
      url.password = '';
      shown = url.href;
    }
  } catch {
    // Not a URL: shown as it is.
  }
  return JSON.stringify(shown.length > 200 ? `${shown.slice(0, 200)}…` : shown);
}

/** An absolute URL that passes {@link urlProblem}, or a `ConfigurationError` naming the option. */
export function urlOption(
  path: string,
  value: unknown,
  allowHttp: boolean,
  { allowQuery = true } = {},
): string {
  const text = nonEmptyString(path, value);
  const problem = urlProblem(text, allowHttp, { allowQuery });
  switch (problem) {
    case undefined:
      return text;
    case 'not-absolute':
      throw invalid(path, value, 'an absolute URL such as "https://as.example.com"');
    case 'not-https':
      throw invalid(path, value, 'an https URL');
    case 'plain-http':
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        `bearer-guard: option \`${path}\` is a plain http URL (${text}). Tokens and keys must travel over https; ` +
          'use an https URL, or set `allowInsecureHttp: true` for a test setup.',
      );
    case 'userinfo':
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        `bearer-guard: option \`${path}\` must not contain a user name or password: fetch() refuses ` +
          'such a URL, and a password in it would reach every log line.',
      );
    case 'fragment':
    case 'query':
      throw invalid(path, value, `a URL without ${allowQuery ? 'a fragment' : 'a query or fragment'}`);
  }
}
