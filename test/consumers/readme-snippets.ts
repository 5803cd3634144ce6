/**
 * The README's code a user copies: the Quick start, "Testing your API" and the client snippet.
 * They are read from README.md itself, so an edit there that breaks them breaks the packed-consumer
 * test. A snippet is a ```ts fence whose first line names its file (`// app.ts`); the files import
 * each other (`./app.js`) as a user's project would.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { ROOT } from './consumer-project.js';

/** README sections whose snippets must compile and run, and the files each must provide. */
export const README_SNIPPETS: Readonly<Record<string, readonly string[]>> = {
  'Quick start': ['app.ts', 'server.ts'],
  'Calling other services': ['orders-client.ts'],
  'Testing your API': ['app.test.ts'],
};

/** The body of the `## ` section whose heading starts with `heading`. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`## ${heading}`));
  if (start === -1) throw new Error(`README.md has no "## ${heading}" section`);
  const end = lines.findIndex((line, index) => index > start && line.startsWith('## '));
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** `{ 'app.ts': source, … }`: every named ```ts fence of the listed sections, verbatim. */
export async function readmeSnippets(): Promise<Record<string, string>> {
  const markdown = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const files: Record<string, string> = {};
  for (const [heading, expected] of Object.entries(README_SNIPPETS)) {
    const found: string[] = [];
    for (const match of section(markdown, heading).matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      const code = match[1]!;
      const name = /^\/\/ ([\w.-]+\.ts)\n/.exec(code)?.[1];
      if (name === undefined) continue;
      if (files[name] !== undefined) throw new Error(`README.md names ${name} twice`);
      files[name] = code;
      found.push(name);
    }
    const missing = expected.filter((name) => !found.includes(name));
    if (missing.length > 0) {
      throw new Error(
        `README.md "## ${heading}": no \`\`\`ts snippet starting with ${missing.map((name) => `// ${name}`).join(', ')}`,
      );
    }
  }
  return files;
}
