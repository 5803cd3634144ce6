/**
 * Helpers of `packed-packages.test.ts`: find the publishable workspace packages, pack them, and
 * install the tarballs into throw-away projects without touching the network.
 *
 * Why a derived lockfile instead of a plain `npm install --offline <tarballs>`: without a lockfile
 * npm resolves every range (`^6.2.18`, express's `debug: ^4.4.0`, …) to the newest version in the
 * cached packument, and after a while that is a version whose tarball was never downloaded, so the
 * offline install fails with ENOTCACHED. The consumer's lockfile is therefore cut out of the root
 * `package-lock.json`: the very versions (and `resolved`/`integrity`) `npm ci` has just put in the
 * npm cache, with the workspace packages replaced by their tarballs. `npm ci --offline` then
 * installs exactly that, and fails loudly if a packed `package.json` does not match it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type DependencyMap = Record<string, string>;

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: DependencyMap;
  optionalDependencies?: DependencyMap;
  peerDependencies?: DependencyMap;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports?: unknown;
  [field: string]: unknown;
}

export interface WorkspacePackage {
  /** Directory relative to the root, POSIX separators: `packages/core`. */
  location: string;
  dir: string;
  manifest: PackageJson;
}

export interface PackedPackage extends WorkspacePackage {
  tarball: string;
  /** Paths inside the tarball, as reported by `npm pack --json`. */
  files: string[];
  integrity: string;
  /** What `npm pack` printed besides its JSON: lifecycle-script banners and output. */
  log: string;
}

/** An entry of `package-lock.json`'s `packages` (lockfileVersion 2/3). */
interface LockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  extraneous?: boolean;
  inBundle?: boolean;
  dependencies?: DependencyMap;
  optionalDependencies?: DependencyMap;
  peerDependencies?: DependencyMap;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment for child processes: without the variables `npm run` / `npm test` export
 * (`npm_config_local_prefix` would point a nested npm at this repository, `npm_config_workspace`
 * would make it look for workspaces), and without `NODE_OPTIONS` (the test runner may load tsx
 * through it; the consumers must run on plain Node). Settings a nested npm needs to find the same
 * cache and registry are kept.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep =
    /^npm_config_(cache|registry|.+:registry|userconfig|globalconfig|cafile|ca|strict_ssl|nodedir)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS') continue;
    if (/^npm_/i.test(key) && !keep.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Run a program; never rejects for a non-zero exit (the caller asserts on `code`). */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? childEnv(),
        timeout: options.timeout ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        // `npm` is a .cmd shim on Windows.
        shell: process.platform === 'win32' && file === 'npm',
      },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(
            new Error(`${file} ${args.join(' ')} could not run: ${error.message}\n${stderr}`, {
              cause: error,
            }),
          );
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** `what` failed: a message with the command's output, for assertion messages. */
export function describeRun(what: string, result: RunResult): string {
  return `${what} exited with ${result.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Every non-private package under `packages/`, sorted by directory. */
export async function publishablePackages(): Promise<WorkspacePackage[]> {
  const found: WorkspacePackage[] = [];
  const entries = await readdir(path.join(ROOT, 'packages'), { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(ROOT, 'packages', entry.name);
    let manifest: PackageJson;
    try {
      manifest = await readJson<PackageJson>(path.join(dir, 'package.json'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (manifest.private === true) continue;
    found.push({ location: `packages/${entry.name}`, dir, manifest });
  }
  return found;
}

/** `sha512-…` of a file, the form npm writes in lockfiles. */
export async function integrityOf(file: string): Promise<string> {
  return `sha512-${createHash('sha512')
    .update(await readFile(file))
    .digest('base64')}`;
}

/** `npm pack` one workspace package into `destination`. */
export async function pack(pkg: WorkspacePackage, destination: string): Promise<PackedPackage> {
  const result = await run('npm', ['pack', '--json', '--pack-destination', destination], { cwd: pkg.dir });
  if (result.code !== 0) throw new Error(describeRun(`npm pack (${pkg.location})`, result));
  // npm prints lifecycle-script output before the JSON when a prepack script exists.
  const json = result.stdout.slice(result.stdout.indexOf('['));
  const [info] = JSON.parse(json) as { filename: string; files: { path: string }[] }[];
  if (info === undefined)
    throw new Error(describeRun(`npm pack (${pkg.location}) printed no result`, result));
  const tarball = path.join(destination, info.filename);
  return {
    ...pkg,
    tarball,
    files: info.files.map((file) => file.path),
    integrity: await integrityOf(tarball),
    log: `${result.stdout.slice(0, result.stdout.indexOf('['))}${result.stderr}`,
  };
}

/** Where a package at lockfile location `from` finds `name` (Node's lookup, on lockfile keys). */
function lookup(lock: Lockfile, from: string, name: string): string | undefined {
  let location = from;
  for (;;) {
    const candidate = `${location === '' ? '' : `${location}/`}node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (location === '') return undefined;
    const parent = location.lastIndexOf('/node_modules/');
    location = parent === -1 ? '' : location.slice(0, parent);
  }
}

const DEPENDENCY_FLAGS = new Set(['dev', 'optional', 'devOptional', 'peer', 'extraneous']);

const REGISTRY = (process.env['npm_config_registry'] ?? 'https://registry.npmjs.org/').replace(/\/?$/, '/');

/** The registry's tarball URL: `<registry>/<name>/-/<name without scope>-<version>.tgz`. */
function tarballUrl(name: string, version: string): string {
  return `${REGISTRY}${name}/-/${name.slice(name.lastIndexOf('/') + 1)}-${version}.tgz`;
}

function versionMatches(range: string, version: string): boolean {
  return [version, `^${version}`, `~${version}`, `=${version}`, '*'].includes(range.trim());
}

/** A dependency the consumer itself declares, resolved as the workspace package `from` resolves it. */
export interface DirectDependency {
  name: string;
  /** Lockfile location to resolve it from: `''` (the root) or a workspace such as `packages/express`. */
  from: string;
}

export interface ConsumerManifests {
  packageJson: Record<string, unknown>;
  lockfile: Record<string, unknown>;
}

/**
 * The `package.json` and `package-lock.json` of a consumer project that depends on the tarballs
 * (`file:` specs relative to `projectDir`) and on `extra` registry packages, with every registry
 * package at the version, `resolved` and `integrity` the root lockfile has.
 */
export async function consumerManifests(
  projectDir: string,
  projectName: string,
  type: 'module' | 'commonjs',
  packed: readonly PackedPackage[],
  extra: readonly DirectDependency[],
): Promise<ConsumerManifests> {
  const lock = await readJson<Lockfile>(path.join(ROOT, 'package-lock.json'));
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json: lockfileVersion 2 or 3 expected');
  const byName = new Map(packed.map((pkg) => [pkg.manifest.name, pkg]));
  const workspaceTarget = new Map(packed.map((pkg) => [pkg.location, `node_modules/${pkg.manifest.name}`]));
  const packages: Record<string, LockEntry> = {};
  const dependencies: DependencyMap = {};

  /** Root-lockfile location → location in the consumer (workspace directories become node_modules/<name>). */
  const target = (location: string): string => {
    for (const [workspace, installed] of workspaceTarget) {
      if (location === workspace || location.startsWith(`${workspace}/`)) {
        return installed + location.slice(workspace.length);
      }
    }
    return location;
  };

  const visit = (location: string): void => {
    const entry = lock.packages[location];
    if (entry === undefined) throw new Error(`package-lock.json has no entry ${location}`);
    const into = target(location);
    if (packages[into] !== undefined) return;
    // Dependency flags describe the root's tree; npm recomputes them for the consumer.
    const kept: LockEntry = Object.fromEntries(
      Object.entries(entry).filter(([key]) => !DEPENDENCY_FLAGS.has(key)),
    );
    if (kept.resolved === undefined && kept.version !== undefined && kept.integrity !== undefined) {
      // The root lockfile omits registry URLs (omit-lockfile-registry-resolved), so `npm ci` would
      // need each packument to find the tarball, and a packument cached with other Accept headers
      // does not count offline. With `resolved` + `integrity` npm reads the tarball from the cache by
      // its digest and never asks for metadata.
      kept.resolved = tarballUrl(
        kept.name ?? location.slice(location.lastIndexOf('node_modules/') + 13),
        kept.version,
      );
    }
    packages[into] = kept;
    walkDependencies(location, entry);
  };

  const walkDependencies = (from: string, entry: LockEntry): void => {
    const edges: [string, string, boolean][] = [
      ...Object.entries(entry.dependencies ?? {}).map(([n, r]): [string, string, boolean] => [n, r, false]),
      ...Object.entries(entry.optionalDependencies ?? {}).map(([n, r]): [string, string, boolean] => [
        n,
        r,
        true,
      ]),
      ...Object.entries(entry.peerDependencies ?? {}).map(([n, r]): [string, string, boolean] => [
        n,
        r,
        entry.peerDependenciesMeta?.[n]?.optional === true,
      ]),
    ];
    for (const [name, range, optional] of edges) {
      const workspace = byName.get(name);
      if (workspace !== undefined) {
        if (!versionMatches(range, workspace.manifest.version)) {
          throw new Error(
            `${from} depends on ${name}@${range}, but the workspace has ${name}@${workspace.manifest.version}: ` +
              'the published package could not be installed.',
          );
        }
        continue; // the tarball is a top-level dependency of the consumer
      }
      const found = lookup(lock, from, name);
      if (found === undefined) {
        if (optional) continue;
        throw new Error(
          `${from} depends on ${name}@${range}, which package-lock.json does not have: run \`npm install\` at the root.`,
        );
      }
      if (lock.packages[found]?.link === true) {
        throw new Error(
          `${from} depends on the workspace package ${name}, which is private or was not packed.`,
        );
      }
      visit(found);
    }
  };

  for (const pkg of packed) {
    const spec = `file:${path.relative(projectDir, pkg.tarball).split(path.sep).join('/')}`;
    dependencies[pkg.manifest.name] = spec;
    const {
      name,
      version,
      dependencies: deps,
      optionalDependencies,
      peerDependencies,
      peerDependenciesMeta,
    } = pkg.manifest;
    const entry: LockEntry = { version, resolved: spec, integrity: pkg.integrity };
    if (deps !== undefined) entry.dependencies = deps;
    if (optionalDependencies !== undefined) entry.optionalDependencies = optionalDependencies;
    if (peerDependencies !== undefined) entry.peerDependencies = peerDependencies;
    if (peerDependenciesMeta !== undefined) entry.peerDependenciesMeta = peerDependenciesMeta;
    packages[`node_modules/${name}`] = entry;
    walkDependencies(pkg.location, entry);
  }
  for (const { name, from } of extra) {
    const found = lookup(lock, from, name);
    const version = found === undefined ? undefined : lock.packages[found]?.version;
    if (found === undefined || version === undefined) {
      throw new Error(`package-lock.json does not resolve ${name} from ${from === '' ? 'the root' : from}`);
    }
    dependencies[name] = version;
    visit(found);
  }

  const packageJson = { name: projectName, version: '0.0.0', private: true, type, dependencies };
  const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => a.localeCompare(b)));
  const lockfile = {
    name: projectName,
    version: '0.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: projectName, version: '0.0.0', dependencies }, ...sorted },
  };
  return { packageJson, lockfile };
}
