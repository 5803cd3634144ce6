import { BearerGuard, ConfigurationError } from '@bearer-guard/core';
import { Router, type Request, type Response } from 'express';

import type { AuthenticateMiddleware } from './authenticate.js';

/** Options of {@link protectedResourceMetadata}. */
export interface ProtectedResourceMetadataOptions {
  /**
   * The resource identifier (RFC 9728 §1.2): the document's `resource` and the base of its URL.
   * Defaults to the guard's `publicUrl`. An https URL (http on loopback or with `allowInsecureHttp`)
   * without query or fragment.
   */
  resource?: string | undefined;
  /** `scopes_supported`: the scopes clients may request for this resource. Left out by default. */
  scopesSupported?: readonly string[] | undefined;
  /** `resource_name`: a human-readable name. */
  resourceName?: string | undefined;
  /** `resource_documentation`: a URL of human-readable documentation. */
  resourceDocumentation?: string | undefined;
  /** `Cache-Control: max-age` of the document, in seconds (RFC 9728 §7.10). Defaults to `3600`. */
  maxAge?: number | undefined;
}

/** The RFC 9728 §2 document, with zero-value members left out (§3.2). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  resource_name?: string;
  resource_documentation?: string;
  tls_client_certificate_bound_access_tokens?: true;
  dpop_signing_alg_values_supported?: string[];
  dpop_bound_access_tokens_required?: true;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const KNOWN = new Set(['resource', 'scopesSupported', 'resourceName', 'resourceDocumentation', 'maxAge']);
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function invalid(option: string, expected: string): ConfigurationError {
  return new ConfigurationError(
    'ERR_BEARER_CONFIG_INVALID_OPTION',
    `bearer-guard: option \`${option}\` of protectedResourceMetadata() must be ${expected}.`,
  );
}

function httpsUrl(option: string, value: unknown, allowHttp: boolean): URL {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  const http = url?.protocol === 'http:' && (allowHttp || LOOPBACK.has(url.hostname));
  if (
    url === undefined ||
    (url.protocol !== 'https:' && !http) ||
    url.hash !== '' ||
    url.search !== '' ||
    url.username !== ''
  ) {
    throw invalid(option, 'an https URL without query or fragment, such as "https://api.example.com/orders"');
  }
  return url;
}

/**
 * The RFC 9728 §3.1 URL of the metadata of `resource`: the well-known suffix inserted between the
 * host and the path, a terminating slash of the path removed first.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}${WELL_KNOWN}${path}`;
}

/**
 * A router serving the RFC 9728 protected-resource metadata of the guard's resource at its
 * path-inserted well-known URL (§3.1: `https://api.example.com/fhir/r4` is described at
 * `/.well-known/oauth-protected-resource/fhir/r4`), built from the guard's own configuration:
 * `resource` is exactly the configured identifier (§3.3; never taken from `Host`),
 * `authorization_servers` the configured issuers, `bearer_methods_supported` the token locations,
 * the DPoP fields from `dpop`, `tls_client_certificate_bound_access_tokens` from `mtls`. GET and
 * HEAD answer the JSON with `Cache-Control: max-age` and `Access-Control-Allow-Origin: *`, OPTIONS
 * answers a CORS preflight, other methods 405. Mounting it also makes every challenge of the guard
 * carry `resource_metadata` pointing at the document (§5.1).
 *
 * Mount it at the root of the app that receives the well-known path (`app.use(router)`). Throws a
 * `ConfigurationError` at construction for a wrong option, or when the guard's `resourceMetadata`
 * points elsewhere.
 *
 * @example
 * const auth = authenticate({ issuer, audience, publicUrl: 'https://api.example.com/orders' });
 * app.use(protectedResourceMetadata(auth, { scopesSupported: ['orders:read'] }));
 * @see RFC 9728 §2, §3
 */
export function protectedResourceMetadata(
  auth: AuthenticateMiddleware | BearerGuard,
  options: ProtectedResourceMetadataOptions = {},
): Router {
  const guard = auth instanceof BearerGuard ? auth : auth.guard;
  if (!(guard instanceof BearerGuard)) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      'bearer-guard: protectedResourceMetadata() takes the middleware authenticate() returned, or a BearerGuard.',
    );
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key) && (options as Record<string, unknown>)[key] !== undefined) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_UNKNOWN_OPTION',
        `bearer-guard: \`${key}\` is not an option of protectedResourceMetadata(). Known options: ${[...KNOWN].join(', ')}.`,
      );
    }
  }
  const settings = guard.options;
  const identifier = options.resource ?? settings.publicUrl;
  if (identifier === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      'bearer-guard: protectedResourceMetadata() needs the resource identifier: pass `resource`, or set `publicUrl` on the guard.',
    );
  }
  const resource = httpsUrl('resource', identifier, settings.allowInsecureHttp);
  const scopes: unknown = options.scopesSupported;
  if (
    scopes !== undefined &&
    (!Array.isArray(scopes) ||
      scopes.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)))
  ) {
    throw invalid('scopesSupported', 'an array of scope tokens (RFC 6749 §3.3)');
  }
  if (
    options.resourceName !== undefined &&
    (typeof options.resourceName !== 'string' || options.resourceName === '')
  ) {
    throw invalid('resourceName', 'a non-empty string');
  }
  if (options.resourceDocumentation !== undefined) {
    httpsUrl('resourceDocumentation', options.resourceDocumentation, settings.allowInsecureHttp);
  }
  const maxAge = options.maxAge ?? 3600;
  if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > 31_536_000) {
    throw invalid('maxAge', 'an integer number of seconds from 0 to 31536000');
  }
  const document: ProtectedResourceMetadata = {
    // §3.3: identical to the identifier the client built the URL from, so the configured text as is.
    resource: identifier,
    authorization_servers: settings.issuers.map((entry) => entry.issuer),
    ...(options.scopesSupported === undefined || options.scopesSupported.length === 0
      ? {}
      : { scopes_supported: [...options.scopesSupported] }),
    bearer_methods_supported: [
      'header',
      ...(settings.tokenLocations.body ? ['body'] : []),
      ...(settings.tokenLocations.query ? ['query'] : []),
    ],
    ...(options.resourceName === undefined ? {} : { resource_name: options.resourceName }),
    ...(options.resourceDocumentation === undefined
      ? {}
      : { resource_documentation: options.resourceDocumentation }),
    ...(settings.mtls === undefined ? {} : { tls_client_certificate_bound_access_tokens: true as const }),
    ...(settings.dpop === undefined
      ? {}
      : { dpop_signing_alg_values_supported: [...settings.dpop.algorithms] }),
    ...(settings.dpop?.required === true ? { dpop_bound_access_tokens_required: true as const } : {}),
  };
  const url = protectedResourceMetadataUrl(resource.href);
  guard.advertiseResourceMetadata(url);
  const path = new URL(url).pathname;
  const body = JSON.stringify(document);
  const router = Router();
  router.use(function protectedResourceMetadataDocument(req: Request, res: Response, next): void {
    if (req.path !== path) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'GET' || req.method === 'HEAD') {
      res
        .status(200)
        .type('application/json')
        .setHeader('Cache-Control', `max-age=${String(maxAge)}`);
      res.send(body);
      return;
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
      res.setHeader('Access-Control-Max-Age', '86400');
      res.setHeader('Allow', 'GET, HEAD, OPTIONS');
      res.status(204).end();
      return;
    }
    res.setHeader('Allow', 'GET, HEAD, OPTIONS');
    res.status(405).json({ error: 'method_not_allowed' });
  });
  return router;
}
