import assert from 'node:assert/strict';
import { backoffDelay, withRetry, type RetryNotice } from '../src/retry.js';

const policy = { attempts: 4, minDelay: 100, maxDelay: 500 };

describe('retry', () => {
  it('backs off exponentially up to maxDelay, with jitter in the upper half', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, policy, () => 0)),
      [50, 100, 200, 250, 250],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, policy, () => 1)),
      [100, 200, 400, 500, 500],
    );
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(2, policy);
      assert.ok(delay >= 100 && delay <= 200, String(delay));
    }
  });

  it('makes exactly `attempts` attempts for retryable failures', async () => {
    const notices: RetryNotice[] = [];
    let calls = 0;
    const outcome = await withRetry(
      () => {
        calls++;
        return Promise.reject(new Error(`fail ${String(calls)}`));
      },
      { attempts: 3, minDelay: 1, maxDelay: 2 },
      () => true,
      (notice) => notices.push(notice),
    );
    assert.equal(calls, 3);
    assert.ok(!outcome.ok);
    assert.equal(outcome.attempts, 3);
    assert.equal((outcome.error as Error).message, 'fail 3');
    assert.deepEqual(
      notices.map((notice) => notice.attempt),
      [1, 2],
    );
  });

  it('stops at the first failure that is not retryable', async () => {
    let calls = 0;
    const outcome = await withRetry(
      () => {
        calls++;
        return Promise.reject(new Error('refused'));
      },
      { attempts: 5, minDelay: 1, maxDelay: 2 },
      () => false,
    );
    assert.equal(calls, 1);
    assert.deepEqual({ ok: outcome.ok, attempts: outcome.attempts }, { ok: false, attempts: 1 });
  });

  it('returns the value and the attempt that produced it', async () => {
    let calls = 0;
    const outcome = await withRetry(
      (attempt) => (++calls < 2 ? Promise.reject(new Error('once')) : Promise.resolve(attempt * 10)),
      { attempts: 3, minDelay: 1, maxDelay: 2 },
      () => true,
    );
    assert.deepEqual(outcome, { ok: true, value: 20, attempts: 2 });
  });
});
