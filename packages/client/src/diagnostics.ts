import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';
import { isTokenRequestError, type TokenRequestErrorCode } from './errors.js';

/**
 * `bearer-guard:token-client.request`: one `node:diagnostics_channel` tracing operation per token
 * request (each retry is one more), for APM agents and `@bearer-guard/otel`. Nothing is built while
 * nobody listens. The message never holds the access token, the client secret or assertion, nor the
 * requested scope or resource: only configuration and outcomes.
 */
export interface TokenRequestMessage {
  /** The configured issuer, `undefined` when only a `tokenEndpoint` is configured. */
  issuer: string | undefined;
  /** The token endpoint (configured or discovered); `undefined` when discovery failed first. */
  endpoint: string | undefined;
  grantType: 'client_credentials';
  /** 1 for the first attempt of a renewal, 2 for its first retry, … */
  attempt: number;
  outcome: 'issued' | 'failed' | undefined;
  code: TokenRequestErrorCode | undefined;
  /** The HTTP status of the token endpoint's answer, when one arrived. */
  status: number | undefined;
  /**
   * With DPoP, the RFC 7638 thumbprint of the client's public key: the `cnf.jkt` the token is bound
   * to (RFC 9449 §6), public by design. Never the key itself or a proof.
   */
  jkt: string | undefined;
}

export const TOKEN_REQUEST_CHANNEL = 'bearer-guard:token-client.request';

export const tokenRequestChannel: TracingChannel<TokenRequestMessage> = tracingChannel(TOKEN_REQUEST_CHANNEL);

/** Run one token request as a traced operation; call behind `tokenRequestChannel.hasSubscribers`. */
export function traceTokenRequest<R>(message: TokenRequestMessage, request: () => Promise<R>): Promise<R> {
  const channels = tokenRequestChannel;
  let promise: Promise<R>;
  try {
    promise = channels.start.runStores(message, request);
  } catch (error) {
    settle(message, error);
    channels.error.publish(message);
    channels.end.publish(message);
    throw error;
  }
  channels.end.publish(message);
  return promise.then(
    (value) => {
      message.outcome = 'issued';
      // RFC 6749 §5.1: a token response is a 200 (oauth4webapi accepts no other).
      message.status = 200;
      channels.asyncStart.publish(message);
      channels.asyncEnd.publish(message);
      return value;
    },
    (error: unknown) => {
      settle(message, error);
      channels.error.publish(message);
      channels.asyncStart.publish(message);
      channels.asyncEnd.publish(message);
      throw error;
    },
  );
}

function settle(message: TokenRequestMessage, error: unknown): void {
  message.outcome = 'failed';
  if (isTokenRequestError(error)) {
    message.code = error.code;
    message.status = error.status;
    message.endpoint ??= error.endpoint;
  }
}
