/**
 * Sources of the throw-away consumer projects of `packed-packages.test.ts`. They are written into
 * temporary directories and run there on plain Node, so they only see what the tarballs ship.
 * Each runtime script prints one JSON report on stdout; the test asserts on it.
 */

/** ESM consumer (`"type": "module"`): imports every package and runs a token through the stack. */
export const ESM_MAIN = `
import { fileURLToPath } from 'node:url';
import { authenticate, requireScopes, errorHandler, BearerGuardError as ReexportedError } from '@bearer-guard/express';
import { createGuard, BearerGuardError } from '@bearer-guard/core';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import express from 'express';

const report = {
  resolved: Object.fromEntries(
    ['@bearer-guard/core', '@bearer-guard/express', '@bearer-guard/testkit'].map((name) => [
      name,
      fileURLToPath(import.meta.resolve(name)),
    ]),
  ),
  types: {
    authenticate: typeof authenticate,
    requireScopes: typeof requireScopes,
    createGuard: typeof createGuard,
    BearerGuardError: typeof BearerGuardError,
    startAuthorizationServer: typeof startAuthorizationServer,
  },
  sameErrorClass: ReexportedError === BearerGuardError,
};

const stub = await startAuthorizationServer();
try {
  report.stub = { issuer: stub.issuer, audience: stub.audience };
  const options = { issuer: stub.issuer, audience: stub.audience, jwksUri: stub.jwksUri };
  const guard = createGuard(options);
  const token = await stub.sign({ sub: 'consumer-esm', scope: 'orders:read' });
  const principal = await guard.verify(token);
  report.principal = {
    subject: principal.subject,
    issuer: principal.issuer,
    audience: principal.audience,
    scopes: principal.scopes,
  };
  try {
    await guard.verify(await stub.bad.wrongAudience());
    report.wrongAudience = 'accepted';
  } catch (error) {
    report.wrongAudience = {
      isBearerGuardError: error instanceof BearerGuardError,
      code: error.code,
      status: error.status,
    };
  }

  const app = express();
  app.get('/orders', authenticate(options), requireScopes('orders:read'), (req, res) => {
    res.json({ subject: req.auth.subject });
  });
  app.use(errorHandler());
  const server = await new Promise((resolve, reject) => {
    const listening = app.listen(0, '127.0.0.1', (error) => (error ? reject(error) : resolve(listening)));
  });
  try {
    const url = 'http://127.0.0.1:' + server.address().port + '/orders';
    const call = async (authorization) => {
      const response = await fetch(url, authorization ? { headers: { authorization } } : {});
      return {
        status: response.status,
        challenge: response.headers.get('www-authenticate'),
        body: await response.json().catch(() => null),
      };
    };
    report.http = {
      valid: await call('Bearer ' + token),
      missing: await call(undefined),
      insufficientScope: await call('Bearer ' + (await stub.sign({ scope: 'other' }))),
    };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
} finally {
  await stub.close();
}
process.stdout.write(JSON.stringify(report));
`;

/** CommonJS consumer (`"type": "commonjs"`): require() of the ESM-only packages (Node >= 20.19). */
export const CJS_MAIN = `
'use strict';
const core = require('@bearer-guard/core');
const adapter = require('@bearer-guard/express');
const testkit = require('@bearer-guard/testkit');

async function main() {
  const report = {
    requireModule: process.features.require_module === true,
    resolved: {
      '@bearer-guard/core': require.resolve('@bearer-guard/core'),
      '@bearer-guard/express': require.resolve('@bearer-guard/express'),
      '@bearer-guard/testkit': require.resolve('@bearer-guard/testkit'),
    },
    types: {
      createGuard: typeof core.createGuard,
      BearerGuardError: typeof core.BearerGuardError,
      authenticate: typeof adapter.authenticate,
      requireScopes: typeof adapter.requireScopes,
      startAuthorizationServer: typeof testkit.startAuthorizationServer,
    },
    sameErrorClass: adapter.BearerGuardError === core.BearerGuardError,
  };
  const stub = await testkit.startAuthorizationServer();
  try {
    const guard = core.createGuard({ issuer: stub.issuer, audience: stub.audience, jwksUri: stub.jwksUri });
    const principal = await guard.verify(await stub.sign({ sub: 'consumer-cjs' }));
    report.principal = { subject: principal.subject, issuer: principal.issuer };
    report.stub = { issuer: stub.issuer };
  } finally {
    await stub.close();
  }
  return report;
}

main().then(
  (report) => process.stdout.write(JSON.stringify(report)),
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
`;

/**
 * TypeScript consumer, checked with \`--module nodenext\` against the shipped declarations (not
 * skipped: \`skipLibCheck\` is off). The \`@ts-expect-error\` lines fail the compile if the types
 * degrade to \`any\` (e.g. when a declaration file cannot be resolved).
 */
export const TS_MAIN = `
import express from 'express';
import { createGuard, BearerGuardError, type BearerGuard, type Principal } from '@bearer-guard/core';
import { authenticate, errorHandler, requireScopes, type AuthenticatedRequest } from '@bearer-guard/express';
import { startAuthorizationServer, type AuthorizationServerStub } from '@bearer-guard/testkit';

export async function check(): Promise<string | undefined> {
  const stub: AuthorizationServerStub = await startAuthorizationServer({ audience: 'https://api.example' });
  const guard: BearerGuard = createGuard({ issuer: stub.issuer, audience: stub.audience, jwksUri: stub.jwksUri });
  const principal: Principal = await guard.verify(await stub.sign());
  // @ts-expect-error -- Principal is readonly
  principal.subject = 'someone else';
  // @ts-expect-error -- not an option
  createGuard({ issuer: stub.issuer, audience: stub.audience, notAnOption: true });
  const app = express();
  app.use(authenticate({ issuer: stub.issuer, audience: stub.audience }));
  app.get('/orders', requireScopes('orders:read'), (req, res) => {
    const subject: string | undefined = req.auth?.subject;
    res.json({ subject, issuer: (req as AuthenticatedRequest).auth.issuer });
  });
  app.use(errorHandler({ onError: (error) => void (error instanceof BearerGuardError && error.code) }));
  await stub.close();
  return principal.subject;
}
`;

/** A CommonJS TypeScript module requiring the ESM-only core (TypeScript >= 5.8 allows it under nodenext). */
export const TS_REQUIRE = `
import core = require('@bearer-guard/core');

export const guard: core.BearerGuard = core.createGuard({ issuer: 'https://as.example', audience: 'https://api.example' });
// @ts-expect-error -- not an export
core.notAnExport();
`;

export const TS_CONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    lib: ['es2023'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  },
  files: ['index.ts', 'require.cts'],
};

/**
 * The project the README's snippets are copied into: what the README promises, `strict` and
 * `nodenext`, with the shipped declarations checked (`skipLibCheck` off). Emits JavaScript to run.
 */
export const README_TS_CONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    lib: ['es2023'],
    types: ['node'],
    strict: true,
    skipLibCheck: false,
    outDir: 'out',
  },
  include: ['*.ts'],
};

/**
 * Drives the README's client snippet (`orders-client.ts`) against the Quick start's API
 * (`app.ts`): the testkit stub issues the JWTs the API accepts, and a token endpoint here hands
 * them out for the client-credentials grant (the stub's own `/token` answers 501).
 * Prints one JSON report.
 */
export const README_CLIENT_RUN = `
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAuthorizationServer } from '@bearer-guard/testkit';
import { createApp } from './app.js';
import { ordersClient } from './orders-client.js';

const as = await startAuthorizationServer();
const api = createApp({ issuer: as.issuer, audience: as.audience }).listen(0, '127.0.0.1');
const grants: string[] = [];
const tokenServer = createServer((req, res) => {
  const origin = 'http://127.0.0.1:' + (tokenServer.address() as AddressInfo).port;
  const json = (value: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  if (req.url === '/.well-known/oauth-authorization-server') {
    json({ issuer: origin, token_endpoint: origin + '/token' });
    return;
  }
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    grants.push(new URLSearchParams(body).get('grant_type') ?? '');
    void as.sign({ sub: 'gateway', scope: 'orders:read' }).then((token) =>
      json({ access_token: token, token_type: 'Bearer', expires_in: 300 }),
    );
  });
}).listen(0, '127.0.0.1');
await Promise.all([once(api, 'listening'), once(tokenServer, 'listening')]);
const port = (server: { address(): unknown }) => (server.address() as AddressInfo).port;
try {
  const client = ordersClient('http://127.0.0.1:' + port(tokenServer), 'http://127.0.0.1:' + port(api));
  const res = await client.listOrders();
  const withoutToken = await fetch('http://127.0.0.1:' + port(api) + '/orders');
  process.stdout.write(
    JSON.stringify({ status: res.status, body: await res.json(), grants, withoutToken: withoutToken.status }),
  );
} finally {
  api.close();
  tokenServer.close();
  await as.close();
}
`;
