import type * as oauth from 'oauth4webapi';
import { metadataEndpoint } from './discovery.js';
import { BearerGuardError } from './errors.js';
import type { IntrospectorContext } from './introspection.js';
import type { ResolvedIntrospection } from './introspection-options.js';

/**
 * Where introspection calls go and how the resource server authenticates there, each resolved
 * once: the configured `endpoint`, else the `introspection_endpoint` of the issuer's metadata,
 * held to the rules of a configured one since our client credentials go there.
 *
 * @see RFC 7662 §2.1; RFC 8414 §2
 */
export class IntrospectionEndpoint {
  readonly #options: ResolvedIntrospection;
  readonly #context: IntrospectorContext;
  #clientAuth: Promise<oauth.ClientAuth> | undefined;
  #server: oauth.AuthorizationServer | undefined;

  constructor(options: ResolvedIntrospection, context: IntrospectorContext) {
    this.#options = options;
    this.#context = context;
  }

  /** The endpoint's URL once resolved (configured, or found by discovery); `undefined` before. */
  get url(): string | undefined {
    return this.#server?.introspection_endpoint;
  }

  /** Warm up: resolve the endpoint (discovery) and the client credentials. */
  async ready(): Promise<void> {
    await this.authorizationServer();
    await this.clientAuthentication();
  }

  /**
   * The endpoint and its metadata, resolved on the first call that succeeds. The discovered
   * metadata never changes once loaded (a failure is not remembered), so neither does this.
   */
  async authorizationServer(): Promise<oauth.AuthorizationServer> {
    this.#server ??= await this.#resolveAuthorizationServer();
    return this.#server;
  }

  async #resolveAuthorizationServer(): Promise<oauth.AuthorizationServer> {
    const { endpoint } = this.#options;
    if (endpoint !== undefined) {
      return {
        issuer: this.#context.checks.issuer,
        introspection_endpoint: endpoint,
        // Without metadata, oauth4webapi would accept only RS256 JWT answers: use our allow-list.
        introspection_signing_alg_values_supported: [...this.#context.algorithms],
      };
    }
    const metadata = await this.#context.metadata();
    try {
      // Our client credentials go to this URL: it is held to the rule of a configured `endpoint`.
      metadataEndpoint(
        metadata,
        'introspection_endpoint',
        this.#context.checks.issuer,
        this.#context.allowInsecureHttp,
      );
    } catch (cause) {
      throw new BearerGuardError('ERR_BEARER_DISCOVERY_UNAVAILABLE', { cause });
    }
    return metadata;
  }

  clientAuthentication(): Promise<oauth.ClientAuth> {
    this.#clientAuth ??= this.#options.clientAuthentication();
    return this.#clientAuth;
  }
}
