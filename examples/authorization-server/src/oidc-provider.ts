// oidc-provider ships no type declarations. This module is the one place that touches it untyped: it
// gives the parts this example uses (constructor, Koa middleware, errors, the token and client
// shapes passed to configuration callbacks) a narrow type of their own.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
// @ts-expect-error -- oidc-provider ships no type declarations
import * as untyped from 'oidc-provider';

/** The fields of a client that configuration callbacks read. */
export interface OidcClient {
  clientId: string;
  clientAuthMethod: string;
}

/** The fields of an access token (or client-credentials token) that callbacks read. */
export interface OidcToken {
  kind: string;
  clientId: string;
  accountId?: string | undefined;
  scope?: string | undefined;
  aud?: string | string[] | undefined;
  resourceServer?: { audience?: string } | undefined;
  extra?: Record<string, unknown> | undefined;
}

/** The Koa context, as far as this example's middleware and callbacks read it. */
export interface OidcContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  req: IncomingMessage;
  res: ServerResponse;
  oidc?: {
    route?: string;
    params?: Record<string, unknown>;
    entities: Record<string, OidcToken | undefined>;
  };
}

export type KoaMiddleware = (ctx: OidcContext, next: () => Promise<void>) => Promise<void>;

export interface OidcProvider {
  readonly issuer: string;
  callback(): RequestListener;
  use(middleware: KoaMiddleware): void;
  on(event: 'server_error', listener: (ctx: OidcContext, error: Error) => void): void;
}

/** An OAuth error the provider renders as `{ error, error_description }` (e.g. `invalid_target`). */
type OidcErrorClass = new (description?: string) => Error;

interface OidcProviderModule {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: { InvalidTarget: OidcErrorClass; InvalidRequest: OidcErrorClass; InvalidScope: OidcErrorClass };
}

const oidc = untyped as unknown as OidcProviderModule;

export const { Provider, errors } = oidc;
