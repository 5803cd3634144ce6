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
      result.local.set(config.issuer, { config, verify, keySet });
    }
    if (config.introspection !== undefined) {
      result.introspector = new Introspector(config.introspection, {
        checks: {
          issuer: config.issuer,
          audiences: config.audiences,
          acceptMissingAudience: config.introspection.acceptMissingAudience,
          clockTolerance,
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
