import { isIP } from 'node:net';

import { invalid } from './internal/validate.js';

/**
 * Which peers may speak for the client: a list of addresses, or a function of the peer address.
 * Their `X-Forwarded-Proto` / `X-Forwarded-Host` (for the DPoP `htu`) and client-certificate
 * headers (RFC 8705 behind a TLS-terminating proxy) count; nobody else's do.
 */
export type TrustProxy = readonly string[] | ((address: string) => boolean);

/** The socket fields read: Node's `IncomingMessage.socket` fits as is. */
export interface RequestSocket {
  readonly remoteAddress?: string | undefined;
  /** Present on a TLS socket (`tls.TLSSocket`). */
  getPeerCertificate?: ((detailed?: boolean) => { raw?: Uint8Array } | object | null) | undefined;
}

/** What the forwarded-header readers look at: Express's `req` fits as is. */
export interface ForwardedRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly socket?: RequestSocket | undefined;
}

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is the IPv4 address: Node reports it so on dual-stack sockets. */
function canonicalAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

/** Validate `trustProxy` at construction: a non-empty list of IP addresses, or a function. */
export function resolveTrustProxy(value: unknown): ((address: string) => boolean) | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') {
    const predicate = value as (address: string) => unknown;
    // A predicate that throws trusts nobody: a bug there must not open the gate.
    return (address) => {
      try {
        return predicate(address) === true;
      } catch {
        return false;
      }
    };
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(
      'trustProxy',
      value,
      'a non-empty array of IP addresses, or a function (address) => boolean',
    );
  }
  const addresses = new Set<string>();
  (value as unknown[]).forEach((entry, index) => {
    if (typeof entry !== 'string' || isIP(entry) === 0) {
      throw invalid(
        `trustProxy[${String(index)}]`,
        entry,
        'an IP address such as "127.0.0.1" or "::1" (for ranges, pass a function of the address)',
      );
    }
    addresses.add(canonicalAddress(entry));
  });
  return (address) => addresses.has(canonicalAddress(address));
}

/** Whether the request's peer is a proxy `trustProxy` accepts. */
export function fromTrustedProxy(
  socket: RequestSocket | undefined,
  trustProxy: ((address: string) => boolean) | undefined,
): boolean {
  const address = socket?.remoteAddress;
  return trustProxy !== undefined && typeof address === 'string' && trustProxy(address);
}

/**
 * The members of a list header (RFC 9110 §5.6.1), in order, a repeated header's lines joined:
 * empty members are not members. Splits on every comma: for the values read here (addresses,
 * hosts, schemes) a comma is never part of one.
 */
export function listMembers(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const members: string[] = [];
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const member of line.split(',')) {
      const trimmed = member.trim();
      if (trimmed !== '') members.push(trimmed);
    }
  }
  return members;
}

/** The address of an `X-Forwarded-For` member: bare, `[v6]`, `[v6]:port` or `v4:port`; else `undefined`. */
function forwardedAddress(member: string): string | undefined {
  if (isIP(member) !== 0) return member;
  const address = /^\[([^\]]+)\](?::\d+)?$/.exec(member)?.[1] ?? /^([\d.]+):\d+$/.exec(member)?.[1];
  return address !== undefined && isIP(address) !== 0 ? address : undefined;
}

/**
 * How many proxies in a row `trustProxy` accepts, from the peer towards the client: 0 when the
 * peer is not one; else 1 plus the trusted addresses that end `X-Forwarded-For`, walking it from
 * the right (each proxy appends the address it received the request from) and stopping at the
 * first one that is not trusted. Only that walk is safe: the client writes the left of the list,
 * trusted addresses included, and the proxies only append to it.
 */
export function trustedHops(
  request: ForwardedRequest,
  trustProxy: ((address: string) => boolean) | undefined,
): number {
  if (trustProxy === undefined || !fromTrustedProxy(request.socket, trustProxy)) return 0;
  const chain = listMembers(request.headers['x-forwarded-for']);
  let hops = 1;
  for (let i = chain.length - 1; i >= 0; i--) {
    const address = forwardedAddress(chain[i] ?? '');
    if (address === undefined || !trustProxy(address)) break;
    hops++;
  }
  return hops;
}

/**
 * The member of a list that proxies append to (`X-Forwarded-Host`, `-Proto`, Envoy's XFCC) that
 * the outermost trusted proxy wrote: with `hops` trusted proxies, the `hops`-th from the right,
 * never one further left, which is the client's word (a proxy that appends keeps what the client
 * sent). Fewer members than hops (proxies that overwrite, or add nothing): the leftmost, which a
 * trusted proxy wrote. `undefined` without members or trusted hops.
 */
export function forwardedMember(members: readonly string[], hops: number): string | undefined {
  if (hops === 0 || members.length === 0) return undefined;
  return members[Math.max(0, members.length - hops)];
}
