import { randomUUID } from 'node:crypto';

export interface OrderItem {
  readonly sku: string;
  readonly quantity: number;
}

export interface Order {
  readonly id: string;
  /** The FHIR id of the patient the order is for (the fleet's FHIR service knows `123` and `456`). */
  readonly patient: string;
  readonly items: readonly OrderItem[];
  readonly status: 'placed';
  readonly createdAt: string;
  /** The client (or subject) whose token created the order. */
  readonly createdBy: string | undefined;
}

/** What `POST /orders` accepts. */
export interface NewOrder {
  readonly patient: string;
  readonly items: readonly OrderItem[];
}

/** One problem with a request body: where (`items[0].quantity`, `''` for the body) and what. */
export interface ValidationDetail {
  readonly path: string;
  readonly message: string;
}

const SEED: readonly Order[] = [
  order('ord-1001', '123', [{ sku: 'bp-cuff-m', quantity: 1 }], '2025-01-14T09:30:00.000Z'),
  order('ord-1002', '123', [{ sku: 'test-strip-50', quantity: 4 }], '2025-02-02T15:05:00.000Z'),
  order('ord-1003', '456', [{ sku: 'pulse-oximeter', quantity: 1 }], '2025-02-10T11:45:00.000Z'),
];

function order(id: string, patient: string, items: OrderItem[], createdAt: string): Order {
  return { id, patient, items, status: 'placed', createdAt, createdBy: 'demo-seed' };
}

/** An in-memory order book, seeded with demo orders. One per app, so tests do not share state. */
export class OrderStore {
  readonly #orders = new Map<string, Order>(SEED.map((entry) => [entry.id, entry]));

  list(patient?: string): Order[] {
    const all = [...this.#orders.values()];
    return patient === undefined ? all : all.filter((entry) => entry.patient === patient);
  }

  get(id: string): Order | undefined {
    return this.#orders.get(id);
  }

  create(input: NewOrder, createdBy: string | undefined): Order {
    const created: Order = {
      id: `ord-${randomUUID()}`,
      patient: input.patient,
      items: input.items.map(({ sku, quantity }) => ({ sku, quantity })),
      status: 'placed',
      createdAt: new Date().toISOString(),
      createdBy,
    };
    this.#orders.set(created.id, created);
    return created;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

function unknownFields(
  value: Record<string, unknown>,
  known: readonly string[],
  prefix: string,
): ValidationDetail[] {
  return Object.keys(value)
    .filter((key) => !known.includes(key))
    .map((key) => ({
      path: `${prefix}${key}`,
      message: `is not a field of ${prefix === '' ? 'an order' : 'an item'}; expected ${known.join(', ')}.`,
    }));
}

function itemProblems(item: unknown, index: number): ValidationDetail[] {
  const path = `items[${index}]`;
  if (!isObject(item)) return [{ path, message: 'must be an object { sku, quantity }.' }];
  const problems = unknownFields(item, ['sku', 'quantity'], `${path}.`);
  if (!nonEmptyString(item['sku']))
    problems.push({ path: `${path}.sku`, message: 'must be a non-empty string.' });
  const { quantity } = item;
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1) {
    problems.push({ path: `${path}.quantity`, message: 'must be a positive integer.' });
  }
  return problems;
}

/**
 * Check a parsed `POST /orders` body by hand: `patient` a non-empty string, `items` a non-empty array
 * of `{ sku: non-empty string, quantity: positive integer }`, and no other fields anywhere (a typo
 * such as `quantaty` must not be silently dropped). Returns every problem found, or the order.
 */
export function validateNewOrder(body: unknown): { order: NewOrder } | { problems: ValidationDetail[] } {
  if (!isObject(body))
    return { problems: [{ path: '', message: 'must be a JSON object { patient, items }.' }] };
  const problems = unknownFields(body, ['patient', 'items'], '');
  const { patient, items } = body;
  if (!nonEmptyString(patient)) problems.push({ path: 'patient', message: 'must be a non-empty string.' });
  if (!Array.isArray(items) || items.length === 0) {
    problems.push({ path: 'items', message: 'must be a non-empty array of { sku, quantity }.' });
  } else {
    items.forEach((item: unknown, index) => problems.push(...itemProblems(item, index)));
  }
  if (problems.length > 0 || !nonEmptyString(patient) || !Array.isArray(items)) return { problems };
  return { order: { patient, items: items as OrderItem[] } };
}
