import type { IncomingMessage, ServerResponse } from 'node:http';

import { sendJson, sendNotFound } from './respond.js';

/** Handles a request whose path and method matched a route. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** One path of the server. New endpoints (e.g. a real introspection endpoint) are added as routes. */
export interface Route<Counter extends string> {
  /** Accepted methods; others answer 405. */
  readonly methods: readonly string[];
  /** Counter incremented by every request to the path, whatever the method or behaviour. */
  readonly counter?: Counter;
  readonly handle: RouteHandler;
}

/** Answers 501 for endpoints the stub advertises but does not implement (yet). */
export const notImplemented: RouteHandler = (_req, res) => {
  sendJson(res, 501, {
    error: 'server_error',
    error_description: 'not implemented by @bearer-guard/testkit',
  });
};

/** Exact-path routing; the query string is ignored. */
export class Router<Counter extends string> {
  readonly #routes = new Map<string, Route<Counter>>();
  readonly #origin: string;
  readonly #count: (counter: Counter) => void;

  constructor(origin: string, count: (counter: Counter) => void) {
    this.#origin = origin;
    this.#count = count;
  }

  /** Serves `route` at the path of `url`; throws if the path is taken. */
  add(url: string, route: Route<Counter>): void {
    const path = new URL(url).pathname;
    if (this.#routes.has(path)) {
      throw new Error(`testkit: two endpoints at ${path} (choose another issuerPath)`);
    }
    this.#routes.set(path, route);
  }

  dispatch(req: IncomingMessage, res: ServerResponse): void {
    let path: string;
    try {
      path = new URL(req.url ?? '/', this.#origin).pathname;
    } catch {
      sendJson(res, 400, { error: 'invalid_request' });
      return;
    }
    const route = this.#routes.get(path);
    if (route === undefined) {
      sendNotFound(res);
      return;
    }
    if (route.counter !== undefined) this.#count(route.counter);
    if (!route.methods.includes(req.method ?? '')) {
      sendJson(res, 405, { error: 'method_not_allowed' }, { Allow: route.methods.join(', ') });
      return;
    }
    route.handle(req, res);
  }
}
