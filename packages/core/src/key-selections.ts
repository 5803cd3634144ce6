/**
 * Most selections remembered per load of a key set: a set holds a few keys and a token names one
 * `kid` and one allowed `alg`, so a handful covers every legitimate token; only selections jose
 * made (keys of the set) are remembered, so a flood of invented `kid`s adds none.
 */
const MAX_REMEMBERED_SELECTIONS = 64;

/**
 * jose's key selections from one load of a key set, by the token's `alg` and `kid`: jose's choice
 * (by `kid`, the `kty` and curve `alg` implies, the key's own `alg`, `use` and `key_ops`) depends
 * on nothing else of the token, so a remembered selection is the one jose would make again, until
 * the set is loaded anew ({@link clear}).
 */
export class KeySelections<K> {
  #selections = new Map<string, K>();

  get(alg: string, kid: unknown): K | undefined {
    const key = selectionKey(alg, kid);
    return key === undefined ? undefined : this.#selections.get(key);
  }

  remember(alg: unknown, kid: unknown, selected: K): void {
    const key = typeof alg === 'string' ? selectionKey(alg, kid) : undefined;
    if (key !== undefined && this.#selections.size < MAX_REMEMBERED_SELECTIONS) {
      this.#selections.set(key, selected);
    }
  }

  /** The set was loaded again: what was selected from the old one may be gone. */
  clear(): void {
    this.#selections = new Map();
  }
}

/**
 * The memo key of a selection (`alg` never holds a space), or `undefined` for a `kid` that is not
 * a string: such a token is left to jose every time.
 */
function selectionKey(alg: string, kid: unknown): string | undefined {
  if (kid === undefined) return alg;
  return typeof kid === 'string' ? `${alg} ${kid}` : undefined;
}
