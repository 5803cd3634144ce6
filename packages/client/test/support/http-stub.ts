// A tiny node:http server on 127.0.0.1 whose answers a test scripts, recording every request it
// gets (method, path, headers, body). Used as a stand-in token endpoint (garbage, 5xx, no
// expires_in, non-Bearer types, redirects, silence) and as the backend of `tokens.fetch`.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Answer one request; `index` counts from 0 across all requests. Return nothing to never answer. */
export type Handler = (request: RecordedRequest, response: ServerResponse, index: number) => void;

export interface HttpStub {
  url: string;
  readonly requests: RecordedRequest[];
  handle: Handler;
  close(): Promise<void>;
}

export function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): ServerResponse {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  return response.end(JSON.stringify(body));
}

export async function startHttpStub(handle: Handler): Promise<HttpStub> {
  const requests: RecordedRequest[] = [];
  const stub: HttpStub = {
    url: '',
    requests,
    handle,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      stub.handle(recorded, res, requests.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  return stub;
}
