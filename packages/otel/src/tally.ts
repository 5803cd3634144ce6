import type { Attributes, ObservableResult } from '@opentelemetry/api';

/** One attribute set (frozen, built once) and the count recorded for it. */
export interface Cell {
  readonly attributes: Attributes;
  count: number;
}

/** Attribute values in the order of a tally's names; `undefined` leaves that attribute out. */
type Value = string | undefined;
type Level = Map<Value, Level | Cell>;

/**
 * Counts per attribute set, kept in the process and reported by an asynchronous counter when a
 * reader collects (`observe`). A request costs a lookup by its attribute values and an increment:
 * no attribute object is built per request and the SDK hashes none (its synchronous `Counter.add`
 * sorts and serialises the attributes on every call, the largest cost of a cached request).
 *
 * The lookup remembers the last cell, which answers the common case (the same outcome, cache and
 * issuer as the request before) with a few comparisons; other combinations walk one `Map` level per
 * attribute. The number of cells is bounded as the attributes are: by the configuration (issuers)
 * and the enumerations (outcomes, error codes, …), never by a value read from a request.
 */
export class Tally {
  readonly #names: readonly string[];
  readonly #root: Level = new Map();
  readonly #cells: Cell[] = [];
  #last: { values: Value[]; cell: Cell } | undefined;

  constructor(names: readonly string[]) {
    if (names.length > 6) throw new RangeError('a tally takes at most six attributes');
    this.#names = names;
  }

  /** The cell of these attribute values, one per name in order (at most six). */
  cell(v0?: Value, v1?: Value, v2?: Value, v3?: Value, v4?: Value, v5?: Value): Cell {
    const last = this.#last;
    if (last !== undefined) {
      const w = last.values;
      if (v0 === w[0] && v1 === w[1] && v2 === w[2] && v3 === w[3] && v4 === w[4] && v5 === w[5]) {
        return last.cell;
      }
    }
    const values = [v0, v1, v2, v3, v4, v5];
    const cell = this.#find(values);
    this.#last = { values, cell };
    return cell;
  }

  /** Add one to the cell of these values. */
  add(v0?: Value, v1?: Value, v2?: Value, v3?: Value, v4?: Value, v5?: Value): void {
    this.cell(v0, v1, v2, v3, v4, v5).count++;
  }

  /** The callback of the asynchronous counter: every attribute set counted so far, cumulatively. */
  readonly observe = (result: ObservableResult): void => {
    for (const cell of this.#cells) result.observe(cell.count, cell.attributes);
  };

  #find(values: Value[]): Cell {
    let level = this.#root;
    const last = this.#names.length - 1;
    for (let index = 0; index < last; index++) {
      let next = level.get(values[index]) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[index], next);
      }
      level = next;
    }
    let cell = level.get(values[last]) as Cell | undefined;
    if (cell === undefined) {
      const attributes: Attributes = {};
      this.#names.forEach((name, index) => {
        const value = values[index];
        // OpenTelemetry drops undefined members anyway; exporters differ, so they are left out.
        if (value !== undefined) attributes[name] = value;
      });
      cell = { attributes: Object.freeze(attributes), count: 0 };
      level.set(values[last], cell);
      this.#cells.push(cell);
    }
    return cell;
  }
}
