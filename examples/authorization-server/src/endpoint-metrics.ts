// `GET /metrics` of the authorization server: how many requests each OAuth endpoint of this process
// received, in the Prometheus text format. The fleet's demo and tests read the introspection count
// from it: one opaque token used at two replicas of a resource server that share an introspection
// cache is introspected once.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The endpoints counted, by the provider's default route (node-oidc-provider `routes`). */
const ENDPOINTS = {
  '/token': 'token',
  '/token/introspection': 'introspection',
  '/token/revocation': 'revocation',
} as const;

type Endpoint = (typeof ENDPOINTS)[keyof typeof ENDPOINTS];

export class EndpointMetrics {
  readonly #counts = new Map<Endpoint, number>(Object.values(ENDPOINTS).map((name) => [name, 0]));

  /** Count `req` when it is a POST to a counted endpoint (the path alone: no query, no body). */
  count(req: IncomingMessage): void {
    if (req.method !== 'POST') return;
    const path = (req.url ?? '').split('?')[0] ?? '';
    const endpoint = (ENDPOINTS as Record<string, Endpoint | undefined>)[path];
    if (endpoint !== undefined) this.#counts.set(endpoint, (this.#counts.get(endpoint) ?? 0) + 1);
  }

  /** The number of requests `endpoint` received. */
  get(endpoint: Endpoint): number {
    return this.#counts.get(endpoint) ?? 0;
  }

  /** Answer `GET /metrics`. */
  serve(res: ServerResponse): void {
    const lines = [
      '# HELP authorization_server_requests_total Requests received by an OAuth endpoint of this process.',
      '# TYPE authorization_server_requests_total counter',
      ...[...this.#counts].map(
        ([endpoint, count]) => `authorization_server_requests_total{endpoint="${endpoint}"} ${String(count)}`,
      ),
    ];
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(`${lines.join('\n')}\n`);
  }
}
