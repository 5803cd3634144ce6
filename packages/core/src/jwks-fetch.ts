import { createLocalJWKSet } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { keysLoadChannel, tracePromise, type KeysLoadMessage } from './diagnostics.js';
import { DiscoveryError } from './discovery.js';
import { fetchJson, UpstreamError } from './internal/fetch-json.js';
import { jwkIdentity } from './internal/key-identity.js';

/** What triggered a key-set load. */
export type KeySetLoadTrigger = 'initial' | 'expired' | 'unknown-kid' | 'ready';

/** jose's key selection over one loaded JWK Set. */
export type KeyLookup = ReturnType<typeof createLocalJWKSet>;
export type ResolvedKey = Awaited<ReturnType<KeyLookup>>;

/** One fetched JWK Set, ready for key selection. */
export interface FetchedKeySet {
  lookup: KeyLookup;
  /** The identities ({@link jwkIdentity}) of its keys. */
  identities: Set<string>;
  keyCount: number;
}

/**
 * Fetch the JWK Set at `uri` (RFC 7517 §5) within the deadline and size cap, asking for
 * `application/jwk-set+json`, and hand it to jose's `createLocalJWKSet`, which owns key selection.
 * `message`, when given, gets the answer's HTTP status.
 *
 * @see RFC 7517 §5, §8.5.1
 */
export async function fetchKeySet(
  uri: string,
  limits: { timeout: number; maxBytes: number },
  message?: KeysLoadMessage,
): Promise<FetchedKeySet> {
  const document = await fetchJson(uri, {
    timeout: limits.timeout,
    maxBytes: limits.maxBytes,
    accept: ['application/jwk-set+json'],
    observe: message && ((_url, status) => (message.status = status)),
  });
  // jose validates the document's shape and throws JWKSInvalid for anything but { keys: [...] }.
  const lookup = createLocalJWKSet(document as JSONWebKeySet);
  const { keys } = document as JSONWebKeySet;
  return {
    lookup,
    identities: new Set(keys.map(jwkIdentity).filter((id) => id !== undefined)),
    keyCount: keys.length,
  };
}

/**
 * `load`, published on `bearer-guard:keys.load` when someone listens. `load` resolves `true` on
 * failure, and `lastFailure` then gives the error.
 */
export function traceKeySetLoad(
  issuer: string,
  trigger: KeySetLoadTrigger,
  load: (message?: KeysLoadMessage) => Promise<boolean>,
  lastFailure: () => unknown,
): Promise<boolean> {
  if (!keysLoadChannel.hasSubscribers) return load();
  const message: KeysLoadMessage = {
    issuer,
    uri: undefined,
    trigger,
    outcome: undefined,
    keyCount: undefined,
    errorType: undefined,
    status: undefined,
  };
  return tracePromise(
    keysLoadChannel,
    message,
    () => load(message),
    (done, result) => {
      const failed = !('value' in result) || result.value;
      done.outcome = failed ? 'failed' : 'loaded';
      if (failed) done.errorType = loadErrorType(lastFailure());
    },
  );
}

/** Why a load failed: the fetch's reason (`timeout`, `network`, `status`, …), `discovery` or `invalid`. */
function loadErrorType(error: unknown): string {
  return error instanceof UpstreamError
    ? error.reason
    : error instanceof DiscoveryError
      ? 'discovery'
      : 'invalid';
}
