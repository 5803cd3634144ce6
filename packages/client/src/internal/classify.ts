import * as oauth from 'oauth4webapi';
import { TokenRequestError, type TokenRequestStep } from '../errors.js';
import { HttpFailure } from './bounded-fetch.js';

/**
 * oauth4webapi's errors keep the parsed body (which may hold an `access_token`) and the Response in
 * their `cause`; only the name, message and code travel on, so no error of ours carries a token.
 */
export function redact(error: unknown): Error {
  if (error instanceof HttpFailure) return error;
  const source = error instanceof Error ? error : new Error(String(error));
  const copy = new Error(source.message);
  copy.name = source.name;
  if ('code' in source && typeof source.code === 'string') Object.assign(copy, { code: source.code });
  return copy;
}

// RFC 6749 §5.2 / Appendix A.7: error = 1*NQSCHAR (%x20-21 / %x23-5B / %x5D-7E).
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

/**
 * The server's `error` as it goes into a message: only a well-formed code of at most 64 characters.
 * Anything else is free text from the server (a newline forging a log line, kilobytes of filler);
 * the `error` property still holds it as sent.
 */
function errorCodeText(code: string | undefined): string {
  return code !== undefined && ERROR_CODE.test(code) ? code : 'a malformed error code';
}

function isOutage(status: number | undefined): boolean {
  // RFC 6749 §5.2 errors are 400/401; 5xx and 429 are the server's state, not a verdict on us.
  return status !== undefined && (status >= 500 || status === 429);
}

function stringField(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A 401 with `WWW-Authenticate` is rejected by oauth4webapi before it reads the body (RFC 6749 §5.2:
 * `invalid_client` answers carry the challenge); the `error` code is in the body or the challenge.
 */
async function challengeError(
  error: oauth.WWWAuthenticateChallengeError,
  step: TokenRequestStep,
  endpoint: string,
): Promise<TokenRequestError> {
  let body: unknown;
  try {
    body = await error.response.json();
  } catch {
    body = undefined;
  }
  const fromChallenge = error.cause.find((challenge) => typeof challenge.parameters.error === 'string');
  const code = stringField(body, 'error') ?? fromChallenge?.parameters.error;
  const status = error.status;
  if (isOutage(status)) {
    return new TokenRequestError('ERR_TOKEN_CLIENT_UNAVAILABLE', `${step} endpoint answered ${String(status)}`, {
      step, endpoint, status, error: code, cause: redact(error),
    }); // prettier-ignore
  }
  // RFC 6749 §5.2: a 401 from the token endpoint is the `invalid_client` answer.
  const named = code ?? (status === 401 && step === 'token' ? 'invalid_client' : undefined);
  if (named === undefined) {
    return new TokenRequestError('ERR_TOKEN_CLIENT_INVALID_RESPONSE', `${step} endpoint answered ${String(status)}`, {
      step, endpoint, status, cause: redact(error),
    }); // prettier-ignore
  }
  return new TokenRequestError('ERR_TOKEN_CLIENT_TOKEN_ERROR', `${step} endpoint refused the request: ${errorCodeText(named)}`, {
    step, endpoint, status, error: named, errorDescription: stringField(body, 'error_description'), cause: redact(error),
  }); // prettier-ignore
}

/**
 * Turn whatever a discovery or token exchange threw into a {@link TokenRequestError}:
 * network failures, timeouts, 5xx and 429 are `ERR_TOKEN_CLIENT_UNAVAILABLE` (retried); an RFC 6749
 * §5.2 error body is `ERR_TOKEN_CLIENT_TOKEN_ERROR` with its `error`; anything else the server
 * sent is `ERR_TOKEN_CLIENT_INVALID_RESPONSE`. Errors raised locally (not by the exchange) are
 * returned unchanged.
 */
export async function classify(
  error: unknown,
  step: TokenRequestStep,
  endpoint: string,
  response: Response | undefined,
): Promise<unknown> {
  if (error instanceof TokenRequestError) return error;
  const status = response?.status;
  const base = { step, endpoint, status };
  if (error instanceof HttpFailure) {
    const outage = error.reason === 'timeout' || error.reason === 'network';
    const code = outage ? 'ERR_TOKEN_CLIENT_UNAVAILABLE' : 'ERR_TOKEN_CLIENT_INVALID_RESPONSE';
    return new TokenRequestError(code, `${step} request to ${endpoint} failed: ${error.message}`, {
      ...base,
      status: error.status,
      cause: error,
    });
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) return challengeError(error, step, endpoint);
  if (error instanceof oauth.ResponseBodyError) {
    const code = isOutage(error.status) ? 'ERR_TOKEN_CLIENT_UNAVAILABLE' : 'ERR_TOKEN_CLIENT_TOKEN_ERROR';
    return new TokenRequestError(
      code,
      `${step} endpoint answered ${String(error.status)} ${errorCodeText(error.error)}`,
      {
        ...base,
        status: error.status,
        error: error.error,
        errorDescription: error.error_description,
        cause: redact(error),
      },
    );
  }
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    if (isOutage(status)) {
      // oauth4webapi reads error bodies of 4xx only; a 5xx may still name one (`temporarily_unavailable`).
      const body: unknown = await response?.json().catch(() => undefined);
      return new TokenRequestError(
        'ERR_TOKEN_CLIENT_UNAVAILABLE',
        `${step} endpoint answered ${String(status)}`,
        {
          ...base,
          error: stringField(body, 'error'),
          cause: redact(error),
        },
      );
    }
    const message = `${step} response from ${endpoint} is not usable: ${error.message}`;
    return new TokenRequestError('ERR_TOKEN_CLIENT_INVALID_RESPONSE', message, {
      ...base,
      cause: redact(error),
    });
  }
  return error;
}
