#!/usr/bin/env node
// Checks that TypeScript project references mirror the workspace dependency graph, so `tsc -b`
// builds every package after the packages it imports:
//
//  1. each workspace's tsconfig.json `references` list exactly the workspaces it depends on
//     (`dependencies`, `peerDependencies`, `optionalDependencies`) that have a tsconfig.json;
//     a reference to a `devDependencies` workspace is allowed, any other reference is an error;
//  2. the root tsconfig.json references every workspace (packages/*, examples/*) that has a
//     tsconfig.json, and every reference anywhere points at an existing tsconfig.
//
// Usage: node scripts/check-references.mjs [root]   (exit 0: consistent; 1: problems listed)
import console from 'node:console';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const RUNTIME_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'];
const problems = [];

/** @param {string} file */
const rel = (file) => path.relative(root, file).split(path.sep).join('/') || '.';

/** @param {string} file @returns {any} */
function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** tsconfig files may have comments and trailing commas: parse them the way tsc does. @param {string} file */
function readTsconfig(file) {
  const { config, error } = ts.readConfigFile(file, ts.sys.readFile);
  if (error !== undefined) {
    problems.push(`${rel(file)}: ${ts.flattenDiagnosticMessageText(error.messageText, '\n')}`);
    return {};
  }
  return config ?? {};
}

/**
 * The tsconfig files a tsconfig references, as absolute paths (a reference may name a directory
 * or a file). Missing targets are reported.
 * @param {string} tsconfigFile
 * @returns {Set<string>}
 */
function referencesOf(tsconfigFile) {
  const config = readTsconfig(tsconfigFile);
  const targets = new Set();
  const references = config.references ?? [];
  if (!Array.isArray(references)) {
    problems.push(`${rel(tsconfigFile)}: "references" must be an array`);
    return targets;
  }
  for (const reference of references) {
    if (typeof reference?.path !== 'string') {
      problems.push(
        `${rel(tsconfigFile)}: every reference needs a "path" string, got ${JSON.stringify(reference)}`,
      );
      continue;
    }
    let target = path.resolve(path.dirname(tsconfigFile), reference.path);
    if (!target.endsWith('.json')) target = path.join(target, 'tsconfig.json');
    if (!existsSync(target)) {
      problems.push(
        `${rel(tsconfigFile)}: reference "${reference.path}" points at ${rel(target)}, which does not exist`,
      );
      continue;
    }
    targets.add(target);
  }
  return targets;
}

/** Workspace directories from the root package.json `workspaces` (plain paths and `dir/*` globs). */
function workspaceDirs() {
  const manifest = readJson(path.join(root, 'package.json'));
  const patterns = Array.isArray(manifest.workspaces)
    ? manifest.workspaces
    : (manifest.workspaces?.packages ?? []);
  const dirs = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('/*') && !pattern.slice(0, -2).includes('*')) {
      const parent = path.join(root, pattern.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const name of readdirSync(parent).sort()) {
        const dir = path.join(parent, name);
        if (statSync(dir).isDirectory() && existsSync(path.join(dir, 'package.json'))) dirs.push(dir);
      }
    } else if (!pattern.includes('*')) {
      const dir = path.join(root, pattern);
      if (existsSync(path.join(dir, 'package.json'))) dirs.push(dir);
    } else {
      problems.push(
        `package.json: workspace pattern "${pattern}" is not supported by this script (only "dir" and "dir/*")`,
      );
    }
  }
  return dirs;
}

const workspaces = workspaceDirs().map((dir) => {
  const manifest = readJson(path.join(dir, 'package.json'));
  const tsconfig = path.join(dir, 'tsconfig.json');
  return { dir, manifest, tsconfig: existsSync(tsconfig) ? tsconfig : undefined };
});
const byName = new Map(workspaces.map((workspace) => [workspace.manifest.name, workspace]));

// 1. Each workspace's references mirror its workspace dependencies.
for (const { dir, manifest, tsconfig } of workspaces) {
  if (tsconfig === undefined) continue;
  /** @type {Map<string, string>} tsconfig of a required reference → dependency name */
  const required = new Map();
  /** @type {Set<string>} */
  const allowed = new Set();
  for (const field of [...RUNTIME_FIELDS, 'devDependencies']) {
    for (const name of Object.keys(manifest[field] ?? {})) {
      const dependency = byName.get(name);
      if (dependency === undefined || dependency.dir === dir) continue;
      if (dependency.tsconfig === undefined) continue; // nothing to build
      allowed.add(dependency.tsconfig);
      if (RUNTIME_FIELDS.includes(field)) required.set(dependency.tsconfig, name);
    }
  }
  const actual = referencesOf(tsconfig);
  for (const [target, name] of required) {
    if (!actual.has(target)) {
      const relative = path.relative(dir, path.dirname(target)).split(path.sep).join('/');
      problems.push(
        `${rel(tsconfig)}: ${manifest.name} depends on ${name}, so add { "path": "${relative}" } to "references"`,
      );
    }
  }
  for (const target of actual) {
    if (allowed.has(target)) continue;
    const dependency = workspaces.find((workspace) => workspace.tsconfig === target);
    problems.push(
      dependency === undefined
        ? `${rel(tsconfig)}: references ${rel(target)}, which is not a workspace package ${manifest.name} depends on`
        : `${rel(tsconfig)}: references ${dependency.manifest.name}, which is not in the "dependencies" of ${manifest.name}: ` +
            'add the dependency to package.json or remove the reference',
    );
  }
}

// 2. The root references every workspace that has a tsconfig.json.
const rootTsconfig = path.join(root, 'tsconfig.json');
if (!existsSync(rootTsconfig)) {
  problems.push('tsconfig.json: missing at the root');
} else {
  const rootReferences = referencesOf(rootTsconfig);
  for (const { dir, manifest, tsconfig } of workspaces) {
    if (tsconfig !== undefined && !rootReferences.has(tsconfig)) {
      problems.push(
        `tsconfig.json: add { "path": "${rel(dir)}" } to "references" (${manifest.name} has a tsconfig.json)`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(
    `check-references: ${problems.length} problem(s):\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
  );
  process.exitCode = 1;
} else {
  const projects = workspaces.filter((workspace) => workspace.tsconfig !== undefined).length;
  console.log(`check-references: OK (${projects} workspace project(s), references match dependencies)`);
}
