import assert from 'node:assert/strict';
import { inspect } from 'node:util';

/** Every way an error or event is likely to reach a log: JSON, `util.inspect` (cause chain included), `String()`. */
export function renderings(value: unknown): string[] {
  // Wrapped, so JSON.stringify always yields a string (a bare undefined would yield undefined).
  const json = JSON.stringify({ value }, (_key, entry: unknown) =>
    typeof entry === 'bigint' ? entry.toString() : entry,
  );
  return [json, inspect(value, { depth: Infinity, showHidden: true }), String(value)];
}

/** Fail if any secret substring shows up in any rendering of `value`. */
export function assertNoSecrets(value: unknown, secrets: readonly string[]): void {
  for (const text of renderings(value)) {
    for (const secret of secrets) {
      assert.ok(
        !text.includes(secret),
        `a secret (${secret.slice(0, 4)}…) appears in: ${text.slice(0, 400)}`,
      );
    }
  }
}
