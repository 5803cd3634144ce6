import { MetadataCache, metadataEndpoint } from './discovery.js';
import type { GuardEvents } from './events.js';
import { Introspector } from './introspection.js';
import { RemoteKeySet } from './jwks.js';
import { createJwtVerifier, type VerifyJwtAccessToken } from './jwt-access-token.js';
import { staticKey } from './local-keys.js';
import type { ResolvedIssuer, ResolvedOptions } from './options.js';

/** An issuer whose JWTs are validated locally. */
export interface TrustedIssuer {
  config: ResolvedIssuer;
  verify: VerifyJwtAccessToken;
  keySet: RemoteKeySet | undefined;
  /**
   * Only for the issuer that also introspects, with keys by discovery (the default routing):
   * whether its metadata names a `jwks_uri`. Without one its JWTs cannot be verified here, and are
   * introspected. A boolean once the metadata is known, a promise until then.
   */
  keysPublished: (() => boolean | Promise<boolean>) | undefined;
}

/** Everything a guard builds from its issuers at start-up, so no request pays for it. */
export interface TrustedIssuers {
  /** Issuers with a JWT key source, by `iss`. */
  local: Map<string, TrustedIssuer>;
  /** The (at most one) issuer that introspects opaque tokens. */
  introspector: Introspector | undefined;
  /** Key sets to warm up in `ready()`, including one only used for RFC 9701 answers. */
  keySets: RemoteKeySet[];
}

function remoteKeySet(
  config: ResolvedIssuer,
  options: ResolvedOptions,
  metadata: MetadataCache,
  events: GuardEvents,
): RemoteKeySet | undefined {
  // A key set is needed for local JWTs, and for verifying RFC 9701 JWT introspection responses.
  const source =
    config.keySource ?? (config.introspection?.jwtResponse === true ? { kind: 'discovery' } : undefined);
  if (source?.kind !== 'jwksUri' && source?.kind !== 'discovery') return undefined;
  const uri =
    source.kind === 'jwksUri'
      ? () => Promise.resolve(source.jwksUri)
      : async () =>
          metadataEndpoint(
            await metadata.get(config.issuer),
            'jwks_uri',
            config.issuer,
            options.allowInsecureHttp,
          );
  return new RemoteKeySet({
    issuer: config.issuer,
    uri,
    ...options.jwksCache,
    timeout: options.timeout,
    maxBytes: options.maxResponseBytes,
    events,
  });
}

/** While discovery is failing, {@link keysPublishedCheck} asks again at most this often (ms). */
const RETRY_DISCOVERY_AFTER = 5_000;

/**
 * Whether the issuer's metadata names a `jwks_uri`. Only a document that was loaded and lacks one
 * says "no": the server publishes no keys, so only it can validate its JWTs, and introspecting
 * them is no weaker a check. A discovery failure says "yes", so that the key set reports the outage
 * as a 503 (paced by its own retry rule) rather than a JWT being sent elsewhere because of it; the
 * failure is remembered for a few seconds so that an outage does not cost a fetch per request.
 */
function keysPublishedCheck(issuer: string, metadata: MetadataCache): () => boolean | Promise<boolean> {
  let known: boolean | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (known !== undefined) return known;
    if (Date.now() - failedAt < RETRY_DISCOVERY_AFTER) return true;
    return metadata.get(issuer).then(
      (document) => (known = typeof document.jwks_uri === 'string'),
      () => {
        failedAt = Date.now();
        return true;
      },
    );
  };
}

/** Build the verifiers, key sets and introspector of every configured issuer. */
export function trustIssuers(options: ResolvedOptions, events: GuardEvents): TrustedIssuers {
  const { clockTolerance, maxTokenAge, profile } = options;
  const metadata = new MetadataCache(
    // The issuer URL itself was vetted by the options (https, or http on loopback / when allowed).
    { timeout: options.timeout, maxBytes: options.maxResponseBytes, allowHttp: true },
    events,
  );
  const result: TrustedIssuers = { local: new Map(), introspector: undefined, keySets: [] };
  for (const config of options.issuers) {
    const keySet = remoteKeySet(config, options, metadata, events);
    if (keySet !== undefined) result.keySets.push(keySet);
    const key = keySet?.getKey ?? staticKey(config);
    if (key !== undefined && config.keySource !== undefined) {
      const verify = createJwtVerifier(config, key, { clockTolerance, maxTokenAge, profile }, keySet);
      const keysPublished =
        config.introspection !== undefined && config.keySource.kind === 'discovery'
          ? keysPublishedCheck(config.issuer, metadata)
          : undefined;
      result.local.set(config.issuer, { config, verify, keySet, keysPublished });
    }
    if (config.introspection !== undefined) {
      result.introspector = new Introspector(config.introspection, {
        checks: {
          issuer: config.issuer,
          audiences: config.audiences,
          acceptMissingAudience: config.introspection.acceptMissingAudience,
          clockTolerance,
          // The guard checks every binding against the request (confirmation in guard.ts).
          boundTokens: true,
        },
        scopeClaims: options.scopeClaims,
        events,
        metadata: () => metadata.get(config.issuer),
        keys: key,
        algorithms: config.algorithms,
        allowInsecureHttp: options.allowInsecureHttp,
      });
    }
  }
  return result;
}
