/**
 * Freeze `value` and everything reachable from it. Iterative, not recursive: what is frozen is
 * attacker-shaped (a validly signed token's claims nested 20 000 levels deep, a DPoP proof's
 * header), and must not overflow the stack.
 */
export function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || Object.isFrozen(next)) continue;
    Object.freeze(next);
    for (const entry of Object.values(next)) if (typeof entry === 'object') pending.push(entry);
  }
  return value;
}
