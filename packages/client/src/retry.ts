import { setTimeout as sleep } from 'node:timers/promises';

/** Bounded retries with exponential backoff and jitter. Delays in milliseconds. */
export interface RetryPolicy {
  /** Attempts in total, the first included (`1` turns retrying off). */
  attempts: number;
  /** Upper bound of the first backoff. */
  minDelay: number;
  /** Upper bound of any backoff. */
  maxDelay: number;
}

export interface RetryNotice {
  /** The attempt that failed, from 1. */
  attempt: number;
  /** The wait before the next attempt. */
  delay: number;
  error: unknown;
}

/**
 * The wait after failed attempt `attempt`: "equal jitter", half of an exponentially growing bound
 * plus a random share of the other half. The random share keeps many gateway instances that lost
 * the server at the same moment from coming back in lockstep; the fixed half keeps a retry from
 * firing immediately.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const bound = Math.min(policy.maxDelay, policy.minDelay * 2 ** (attempt - 1));
  return Math.round(bound / 2 + random() * (bound / 2));
}

/** How a retried operation ended, with the number of attempts it took. */
export type RetryOutcome<T> =
  { ok: true; value: T; attempts: number } | { ok: false; error: unknown; attempts: number };

/**
 * Run `operation` until it succeeds, fails with an error `retryable` rejects, or has been tried
 * `policy.attempts` times. `onRetry` hears of each failure that is followed by another attempt.
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  retryable: (error: unknown) => boolean,
  onRetry?: (notice: RetryNotice) => void,
): Promise<RetryOutcome<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await operation(attempt), attempts: attempt };
    } catch (error) {
      if (attempt >= policy.attempts || !retryable(error)) return { ok: false, error, attempts: attempt };
      const delay = backoffDelay(attempt, policy);
      onRetry?.({ attempt, delay, error });
      await sleep(delay);
    }
  }
}
