/**
 * The fields this package reads from the channels' messages: structural copies of the message types
 * of `@bearer-guard/core` (`AuthenticateMessage`, …) and `@bearer-guard/client`
 * (`TokenRequestMessage`), so that `@opentelemetry/api` stays the only dependency, declarations
 * included. The tests check that the published types are assignable to these.
 */

export interface AuthenticateFields {
  issuer: string | undefined;
  source: string | undefined;
  cache: string;
  outcome: string | undefined;
  code: string | undefined;
  binding: string | undefined;
}

export interface AuthorizeFields {
  policy: string;
  outcome: string;
  code: string | undefined;
}

export interface CircuitStateFields {
  name: string;
  state: 'closed' | 'open' | 'half-open';
}

export interface KeysLoadFields {
  issuer: string;
  uri: string | undefined;
  trigger: string;
  outcome: 'loaded' | 'failed' | undefined;
  errorType: string | undefined;
  status: number | undefined;
}

export interface DiscoveryFields {
  issuer: string;
  url: string | undefined;
  outcome: 'loaded' | 'failed' | undefined;
  errorType: string | undefined;
  status: number | undefined;
}

export interface IntrospectionFields {
  issuer: string;
  endpoint: string | undefined;
  outcome: 'active' | 'inactive' | 'unavailable' | undefined;
  reason: string | undefined;
  status: number | undefined;
}

export interface TokenRequestFields {
  issuer: string | undefined;
  endpoint: string | undefined;
  outcome: 'issued' | 'failed' | undefined;
  code: string | undefined;
  status: number | undefined;
}
