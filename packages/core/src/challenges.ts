import { BearerGuardError, challenged, ConfigurationError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Principal } from './principal.js';

/**
 * The `WWW-Authenticate` challenge one guard gives with every refusal (RFC 6750 §3): its realm,
 * `resource_metadata` (RFC 9728 §5.1), and the scheme the request's token came with, with DPoP's
 * `algs` and, for a missing nonce, the current one (RFC 9449 §7.1, §8).
 */
export class Challenges {
  readonly #options: ResolvedOptions;
  /** RFC 9728 §5.1 `resource_metadata`: the option, or the document served for this guard. */
  #resourceMetadata: string | undefined;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#resourceMetadata = options.resourceMetadata;
  }

  /** See `BearerGuard.advertiseResourceMetadata`: a conflicting option is a `ConfigurationError` (§3.3). */
  advertise(url: string): void {
    if (this.#resourceMetadata !== undefined && this.#resourceMetadata !== url) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        `bearer-guard: option \`resourceMetadata\` is ${this.#resourceMetadata}, but the metadata document is served at ${url}. ` +
          'Remove `resourceMetadata` (the served URL is then advertised) or make the two agree.',
      );
    }
    this.#resourceMetadata = url;
  }

  /** The error for a request without a token: 401 and a bare challenge (RFC 6750 §3.1). */
  missingCredentials(): BearerGuardError {
    return this.withScheme(new BearerGuardError('ERR_BEARER_TOKEN_MISSING'));
  }

  /** The scheme a validated principal's token came with: only DPoP-bound tokens pass on `DPoP`. */
  schemeOf(principal: Principal | undefined): 'bearer' | 'dpop' {
    return this.#options.dpop !== undefined &&
      principal?.confirmation !== undefined &&
      'jkt' in principal.confirmation
      ? 'dpop'
      : 'bearer';
  }

  /** `error` with this guard's challenge on `scheme`; anything but a {@link BearerGuardError} unchanged. */
  withScheme<T>(error: T, scheme: 'bearer' | 'dpop' = 'bearer'): T {
    if (!(error instanceof BearerGuardError)) return error;
    const dpop = this.#options.dpop;
    return challenged(error, {
      realm: this.#options.realm,
      resourceMetadata: this.#resourceMetadata,
      challenge: {
        scheme,
        dpopAlgorithms: dpop?.algorithms,
        dpopRequired: dpop?.required ?? false,
        dpopNonce: error.code === 'ERR_BEARER_DPOP_NONCE_REQUIRED' ? dpop?.nonces?.current() : undefined,
      },
    }) as T;
  }
}
