import type { PresentedToken, ResourceRequest } from './bearer-token.js';
import { authenticateChannel, bindingOf, failureOf, type AuthenticateMessage } from './diagnostics.js';
import type { Principal } from './principal.js';

/**
 * What the traced path needs of the guard: its own steps, each throwing (or rejecting with) the
 * challenged error the untraced path would give.
 */
export interface AuthenticationSteps {
  extract(request: ResourceRequest): PresentedToken | undefined;
  /** A request without a token: returns when none is needed, else throws. */
  withoutToken(): void;
  /** The token's principal (cached or validated), its binding checked against the request. */
  bound(
    request: ResourceRequest | undefined,
    presented: PresentedToken,
    message: AuthenticateMessage,
  ): Principal | Promise<Principal>;
  /** The cached principal of the token, recording the cache level and issuer in `message`. */
  cachedHit(presented: PresentedToken, message: AuthenticateMessage): Principal | undefined;
  /** The binding of a cached principal checked against the request (synchronous for bearer tokens). */
  confirm(
    request: ResourceRequest,
    presented: PresentedToken,
    principal: Principal,
  ): Principal | Promise<Principal>;
}

/**
 * `authenticateNow`, published on `bearer-guard:authenticate` (diagnostics.ts). A path of its
 * own, so that without a subscriber the untraced one costs a single `hasSubscribers` test. A
 * request without a token that needs none is not an authentication and publishes nothing.
 */
export function traceAuthentication(
  steps: AuthenticationSteps,
  request: ResourceRequest,
): Principal | undefined | Promise<Principal> {
  let presented: PresentedToken | undefined;
  try {
    presented = steps.extract(request);
    if (presented === undefined) {
      steps.withoutToken();
      return undefined;
    }
  } catch (error) {
    const message = newMessage();
    authenticateChannel.start.publish(message);
    refuse(message, error);
    throw error;
  }
  return traceBound(steps, request, presented);
}

/**
 * `authenticateCached`, traced: a hit or a refusal publishes; a miss leaves it to `authenticate`.
 * A malformed request is a refusal too: its caller gets the error here and asks no further.
 */
export function traceCached(steps: AuthenticationSteps, request: ResourceRequest): Principal | undefined {
  const message = newMessage();
  try {
    const presented = steps.extract(request);
    if (presented === undefined || presented.scheme === 'dpop') return undefined;
    const principal = steps.cachedHit(presented, message);
    if (principal === undefined) return undefined;
    const confirmed = steps.confirm(request, presented, principal) as Principal;
    authenticateChannel.start.publish(message);
    accept(message, confirmed);
    authenticateChannel.end.publish(message);
    return confirmed;
  } catch (error) {
    authenticateChannel.start.publish(message);
    refuse(message, error);
    throw error;
  }
}

/**
 * The guard's bound step, traced: `start`, then `end` for an answer given at once,
 * `asyncStart`/`asyncEnd` for one that needed a validation or an asynchronous proof check.
 */
export function traceBound(
  steps: AuthenticationSteps,
  request: ResourceRequest | undefined,
  presented: PresentedToken,
): Principal | Promise<Principal> {
  const message = newMessage();
  authenticateChannel.start.publish(message);
  let answer: Principal | Promise<Principal>;
  try {
    answer = steps.bound(request, presented, message);
  } catch (error) {
    refuse(message, error);
    throw error;
  }
  if (!(answer instanceof Promise)) {
    accept(message, answer);
    authenticateChannel.end.publish(message);
    return answer;
  }
  authenticateChannel.end.publish(message);
  return answer.then(
    (validated) => {
      accept(message, validated);
      authenticateChannel.asyncStart.publish(message);
      authenticateChannel.asyncEnd.publish(message);
      return validated;
    },
    (error: unknown) => {
      Object.assign(message, failureOf(error));
      authenticateChannel.error.publish(message);
      authenticateChannel.asyncStart.publish(message);
      authenticateChannel.asyncEnd.publish(message);
      throw error;
    },
  );
}

function newMessage(): AuthenticateMessage {
  return {
    issuer: undefined,
    source: undefined,
    cache: 'none',
    outcome: undefined,
    code: undefined,
    binding: undefined,
  };
}

function accept(message: AuthenticateMessage, principal: Principal): void {
  message.outcome = 'accepted';
  message.source = principal.source;
  message.binding = bindingOf(principal);
}

/** A synchronous refusal: `error`, then `end`. */
function refuse(message: AuthenticateMessage, error: unknown): void {
  Object.assign(message, failureOf(error));
  authenticateChannel.error.publish(message);
  authenticateChannel.end.publish(message);
}
