import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { BearerGuardError, ConfigurationError, createGuard, ERROR_TABLE } from '@bearer-guard/core';
import type { BearerErrorCode } from '@bearer-guard/core';
import {
  authorized,
  requireAnyScope,
  requireAudience,
  requireScopes,
  requireSmartScope,
} from '@bearer-guard/express';
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import request from 'supertest';

import { readmeSnippets } from '../consumers/readme-snippets.js';

/**
 * The documentation says what the code does: docs/errors.md's table against the error table and
 * the JSON bodies, and the README's option tables against the options the validator accepts.
 */
const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** The cells of the markdown table rows that follow the header line starting with `header` (no cell holds a `|`). */
function tableRows(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(header));
  assert.ok(start >= 0, `a table headed ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** The names an unknown-option error lists as known (`Known options of `path`: a, b, c.`). */
function knownOptions(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    assert.ok(error instanceof ConfigurationError);
    assert.equal(error.code, 'ERR_BEARER_CONFIG_UNKNOWN_OPTION');
    const list = /Known options of `[^`]+`: (.+)\.$/.exec(error.message)?.[1];
    assert.ok(list !== undefined, error.message);
    return list.split(', ');
  }
  return assert.fail('expected an unknown-option error');
}

/** The packages of the `npm install` lines in the markdown's ```sh fences. */
function installCommands(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const fence of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const line of fence[1]!.split('\n')) {
      const words = /^npm (?:install|i) (.*)$/.exec(line.replace(/#.*$/, '').trim())?.[1]?.split(/\s+/) ?? [];
      for (const word of words) if (!word.startsWith('-')) names.add(word);
    }
  }
  return names;
}

/** The packages `code` imports (`from 'express'`, `from '@bearer-guard/express'`), not node: or relative ones. */
function importedPackages(code: string): string[] {
  return [...code.matchAll(/\bfrom '([^'.][^']*)'/g)]
    .map((match) => match[1]!)
    .filter((specifier) => !specifier.startsWith('node:'))
    .map((specifier) => specifier.split('/', specifier.startsWith('@') ? 2 : 1).join('/'));
}

/** Whether the installed package declares its own types (else TypeScript needs `@types/<name>`). */
function shipsTypes(name: string): boolean {
  const manifest = JSON.parse(read(`node_modules/${name}/package.json`)) as Record<string, unknown>;
  return (
    'types' in manifest ||
    'typings' in manifest ||
    JSON.stringify(manifest['exports'] ?? {}).includes('"types"')
  );
}

/** What the install lines lack for `code`: each imported package, and `@types/<name>` for one without types. */
function missingInstalls(code: string, installed: Set<string>): string[] {
  return [...new Set(importedPackages(code))].flatMap((name) => [
    ...(installed.has(name) ? [] : [name]),
    ...(shipsTypes(name) || installed.has(`@types/${name}`) ? [] : [`@types/${name}`]),
  ]);
}

const ISSUER = 'https://as.example';
const AUDIENCE = 'https://api.example';
const INTROSPECTION = { clientId: 'api', clientSecret: 'secret' };

describe('docs agree with the code', function () {
  describe('docs/errors.md', function () {
    const doc = read('docs/errors.md');
    const rows = tableRows(doc, '| code | status | `error` |');

    it('lists every request error with its status and the `error` of its JSON body', function () {
      const listed = new Map(rows.map((cells) => [/`(ERR_[A-Z_]+)`/.exec(cells[0] ?? '')?.[1], cells]));
      for (const code of Object.keys(ERROR_TABLE) as BearerErrorCode[]) {
        const cells = listed.get(code);
        assert.ok(cells !== undefined, `${code} is in the table`);
        const error = new BearerGuardError(code);
        assert.equal(cells[1], String(error.status), `${code}: status`);
        assert.equal(/^`([a-z_]+)`/.exec(cells[2] ?? '')?.[1], error.toJSON().error, `${code}: body error`);
      }
    });

    // The issue: the no-token body said "unauthorized" while the table said "(none)".
    it('says the no-token challenge has no error code while its body says `unauthorized`', function () {
      const error = new BearerGuardError('ERR_BEARER_TOKEN_MISSING');
      assert.deepEqual(error.toJSON(), { error: 'unauthorized' });
      assert.equal(error.headers['WWW-Authenticate'], 'Bearer');
      const cell = rows.find((cells) => cells[0]?.includes('ERR_BEARER_TOKEN_MISSING'))?.[2] ?? '';
      assert.match(cell, /body only; no code in the challenge/);
    });

    // The issue: authorized() raises it too, and the section did not name it.
    it('names every middleware that answers ERR_BEARER_CONFIG_MIDDLEWARE_ORDER without authenticate()', async function () {
      const section = doc.slice(
        doc.indexOf('### ERR_BEARER_CONFIG_MIDDLEWARE_ORDER'),
        doc.indexOf('### ERR_BEARER_CONFIG_ISSUER_UNUSABLE'),
      );
      const middleware: Record<string, RequestHandler> = {
        requireScopes: requireScopes('orders:read'),
        requireAnyScope: requireAnyScope('orders:read'),
        requireAudience: requireAudience(AUDIENCE),
        requireSmartScope: requireSmartScope('Observation', 'read'),
        authorized: authorized((_req, res) => res.end()),
      };
      for (const [name, handler] of Object.entries(middleware)) {
        // A route with the middleware and no authenticate() before it, over HTTP.
        const app = express();
        app.get('/Observation', handler);
        // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express tells error handlers by their four parameters
        app.use((error: ConfigurationError, _req: Request, res: Response, _next: NextFunction) => {
          res.status(500).json({ code: error.code });
        });
        const res = await request(app).get('/Observation');
        assert.deepEqual(res.body, { code: 'ERR_BEARER_CONFIG_MIDDLEWARE_ORDER' }, name);
        assert.ok(
          section.includes(`\`${name}()\``),
          `docs/errors.md names ${name}() under ERR_BEARER_CONFIG_MIDDLEWARE_ORDER`,
        );
      }
    });

    it('does not claim configuration errors are never raised per request (MIDDLEWARE_ORDER is)', function () {
      const intro = doc.slice(0, doc.indexOf('| code |'));
      assert.doesNotMatch(intro, /never per request/);
      assert.match(intro, /ERR_BEARER_CONFIG_MIDDLEWARE_ORDER/);
    });
  });

  describe('README', function () {
    const readme = read('README.md');

    it('documents every `introspection.` option, `maxResponseBytes` with its exact range', function () {
      const rows = tableRows(readme, '| `introspection.` option |');
      const documented = new Set(
        rows.flatMap((cells) => [...(cells[0] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1])),
      );
      const known = knownOptions(() =>
        createGuard({
          issuer: ISSUER,
          audience: AUDIENCE,
          introspection: { ...INTROSPECTION, unknownOption: 1 } as typeof INTROSPECTION,
        }),
      );
      assert.deepEqual(
        known.filter((name) => !documented.has(name)),
        [],
        'options missing from the README table',
      );

      // The range the validator enforces is the one the README states.
      let range = '';
      try {
        createGuard({
          issuer: ISSUER,
          audience: AUDIENCE,
          introspection: { ...INTROSPECTION, maxResponseBytes: 1 },
        });
      } catch (error) {
        range =
          /from (\d+) to (\d+)/
            .exec((error as Error).message)
            ?.slice(1)
            .join(' to ') ?? '';
      }
      assert.equal(range, '1024 to 16777216');
      const row = rows.find((cells) => cells[0] === '`maxResponseBytes`');
      assert.ok(row !== undefined, 'a maxResponseBytes row');
      assert.match(row[1] ?? '', /`65536`/);
      assert.ok(row[2]?.includes(`${range} bytes`), row[2]);
    });

    it('documents every field of an `issuers` entry, `introspection` included', function () {
      const row = tableRows(readme, '| option | default | meaning |').find(
        (cells) => cells[0] === '`issuers`',
      );
      const fields = /`\[\{ ([^}]+) \}\]`/
        .exec(row?.[2] ?? '')?.[1]
        ?.split(', ')
        .map((field) => field.replace(/\?$/, ''));
      const known = knownOptions(() =>
        createGuard({
          audience: AUDIENCE,
          issuers: [{ issuer: ISSUER, unknownOption: 1 } as { issuer: string }],
        }),
      );
      assert.deepEqual(fields, known);
    });

    // The issue: the README had no install line, and a strict TypeScript project cannot compile the
    // Quick start without @types/express (express 5 ships no types).
    it('installs every package its snippets import, and @types/express for TypeScript', async function () {
      const code = Object.values(await readmeSnippets()).join('\n');
      assert.deepEqual(
        missingInstalls(code, installCommands(readme)),
        [],
        'README.md: missing from its npm install lines',
      );
    });

    it('each package README installs what its example imports', function () {
      for (const name of ['core', 'express', 'client', 'testkit', 'redis']) {
        const markdown = read(`packages/${name}/README.md`);
        const code = [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!).join('\n');
        const installed = installCommands(markdown);
        assert.deepEqual(missingInstalls(code, installed), [], `packages/${name}/README.md`);
      }
    });

    it('says a locally validated JWT cannot be revoked, and what to do instead', function () {
      assert.match(readme, /A JWT validated locally cannot be revoked/);
      assert.match(readme, /short[\s\S]{0,80}`introspectJwts: true`/);
    });
  });
});
