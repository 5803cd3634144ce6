/**
 * The replicas of one backend, taken in turn: each call goes to the next base URL, so the load
 * spreads evenly and every replica is exercised (the fleet with `REDIS_URL` runs two of each
 * backend; they share their stores, so it does not matter which one answers).
 */
export function roundRobin(urls: readonly string[]): () => string {
  if (urls.length === 0) throw new TypeError('roundRobin needs at least one URL');
  let next = 0;
  return () => {
    const url = urls[next % urls.length] as string;
    next = (next + 1) % urls.length;
    return url;
  };
}
