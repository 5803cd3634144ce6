import { BearerGuardError, ConfigurationError } from './errors.js';
import type { RemoteKeySet } from './jwks.js';
import type { TokenValidation } from './token-validation.js';

/**
 * `BearerGuard.ready()`: discover metadata and load every remote key set (and the introspection
 * endpoint's metadata) now, issuer by issuer. The first that cannot be used rejects with a
 * `ConfigurationError` (`ERR_BEARER_CONFIG_ISSUER_UNUSABLE`) naming it, so a misconfigured service
 * fails at start-up instead of on its first request.
 */
export async function warmUp(keySets: readonly RemoteKeySet[], tokens: TokenValidation): Promise<void> {
  const warmUps = keySets.map((keySet) => ({
    issuer: keySet.issuer,
    load: async () => {
      const trusted = tokens.issuers.get(keySet.issuer);
      // No `jwks_uri` in the metadata: this issuer's JWTs are introspected, so there is nothing to
      // load, unless RFC 9701 answers need the keys (then the load fails and says so).
      const published = (await trusted?.keysPublished?.()) ?? true;
      if (published || trusted?.config.introspection?.jwtResponse === true) await keySet.load();
    },
  }));
  const introspector = tokens.introspector;
  if (introspector !== undefined) {
    warmUps.push({ issuer: introspector.issuer, load: () => introspector.ready() });
  }
  for (const { issuer, load } of warmUps) {
    try {
      await load();
    } catch (error) {
      const cause = error instanceof BearerGuardError ? error.cause : error;
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
        `bearer-guard: the keys or metadata of issuer ${issuer} cannot be loaded (${cause instanceof Error ? cause.message : String(cause)}). ` +
          'Check `issuer`, `jwksUri` or `introspection.endpoint`, and that the authorization server is reachable.',
        { cause },
      );
    }
  }
}
