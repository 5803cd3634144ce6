import { BalancedPool } from 'undici';

/** The `dispatcher` of Node's `fetch` (typed by undici-types, which this package's undici implements). */
type FetchDispatcher = NonNullable<RequestInit['dispatcher']>;

/**
 * The replicas of one backend behind its one URL, taken in turn (undici's `BalancedPool`: round
 * robin, an upstream that fails losing weight until it answers again).
 *
 * The gateway calls `ORDERS_URL` / `FHIR_URL`, the backend's one public address: that URL is what
 * each DPoP proof names (`htu`, RFC 9449 §4.2) and what every replica is configured to be
 * (`ORDERS_PUBLIC_URL`, `FHIR_BASE_URL`). Only the connection goes to a replica, as behind a load
 * balancer. So a proof is valid at every replica, once: the replicas share their DPoP replay store,
 * and one replayed to the other replica is refused as a replay.
 */
export interface BackendReplicas {
  /** Pass as `dispatcher` in a `fetch` init (Node's fetch); `undefined` without replicas. */
  readonly dispatcher: FetchDispatcher | undefined;
  /** Close the connections to the replicas. */
  close(): Promise<void>;
}

export function backendReplicas(urls: readonly string[]): BackendReplicas {
  if (urls.length === 0) return { dispatcher: undefined, close: () => Promise.resolve() };
  const pool = new BalancedPool([...urls]);
  // The class Node's fetch uses, from the undici release line Node ships (6.x): only the
  // declarations differ, undici's own and Node's undici-types.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  const dispatcher: FetchDispatcher = pool;
  return { dispatcher, close: () => pool.close() };
}
