/**
 * What users install is the tarball, not the workspace: pack every publishable package, lint the
 * tarballs with publint, install them (offline) into throw-away ESM, CommonJS and TypeScript
 * projects outside the repository, and use them there. Needs `tsc -b` first (`npm test` does it).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  ROOT,
  childEnv,
  consumerManifests,
  describeRun,
  pack,
  publishablePackages,
  run,
  type DirectDependency,
  type PackedPackage,
  type RunResult,
  type WorkspacePackage,
} from './consumer-project.js';
import {
  CJS_MAIN,
  ESM_MAIN,
  README_CLIENT_RUN,
  README_TS_CONFIG,
  TS_CONFIG,
  TS_MAIN,
  TS_REQUIRE,
} from './consumer-sources.js';
import { readmeSnippets } from './readme-snippets.js';

/** The packages the consumer scripts import; each must be among the publishable ones. */
const EXPECTED = ['@bearer-guard/core', '@bearer-guard/express', '@bearer-guard/testkit'];

interface HttpOutcome {
  status: number;
  challenge: string | null;
  body: unknown;
}

interface PublintPackageJson {
  bin?: string | Record<string, string>;
}

async function publintCli(): Promise<string> {
  const dir = path.join(ROOT, 'node_modules', 'publint');
  const { bin } = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as PublintPackageJson;
  const relative = typeof bin === 'string' ? bin : bin?.['publint'];
  assert.ok(
    relative,
    'node_modules/publint/package.json has no "publint" bin: is publint installed at the root?',
  );
  return path.join(dir, relative);
}

/**
 * Module specifiers of `import`/`export … from`, side-effect imports and `import()` in emitted JS or
 * .d.ts. Comment lines are dropped first, so `@example` code in JSDoc does not count.
 */
function importedSpecifiers(source: string): string[] {
  const code = source
    .split('\n')
    .filter((line) => !/^\s*(\*|\/\*|\/\/)/.test(line))
    .join('\n');
  const patterns = [
    /^\s*(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[1]!));
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Create `<work>/<name>` with the tarballs (and `extra`) installed by `npm ci --offline`. */
async function installConsumer(
  work: string,
  name: string,
  type: 'module' | 'commonjs',
  packed: readonly PackedPackage[],
  extra: readonly DirectDependency[],
): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir);
  const { packageJson, lockfile } = await consumerManifests(dir, `bearer-guard-${name}`, type, packed, extra);
  await writeJson(path.join(dir, 'package.json'), packageJson);
  await writeJson(path.join(dir, 'package-lock.json'), lockfile);
  const result = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    env: childEnv({ CI: 'true' }),
  });
  assert.equal(
    result.code,
    0,
    describeRun(
      `npm ci --offline in the ${name} consumer (every registry package comes from the npm cache that ` +
        '`npm ci` at the root filled; ENOTCACHED means it was not run, or package-lock.json is stale)',
      result,
    ),
  );
  return dir;
}

function parseReport(
  what: string,
  result: { code: number; stdout: string; stderr: string },
): Record<string, unknown> {
  assert.equal(result.code, 0, describeRun(what, result));
  try {
    return JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(describeRun(`${what} printed no JSON report`, result));
  }
}

function assertResolvedInside(dir: string, resolved: unknown): void {
  const paths = resolved as Record<string, string>;
  assert.deepEqual(Object.keys(paths).sort(), EXPECTED);
  for (const [name, file] of Object.entries(paths)) {
    assert.equal(
      file,
      path.join(dir, 'node_modules', ...name.split('/'), 'dist', 'index.js'),
      `${name} must load from the installed tarball`,
    );
  }
}

/** Copy the README's snippets into `<esm>/readme` (beside the installed tarballs) and compile them. */
async function compileReadme(esm: string): Promise<{ dir: string; compiled: RunResult }> {
  const snippets = await readmeSnippets();
  const dir = path.join(esm, 'readme');
  await mkdir(dir);
  await Promise.all([
    ...Object.entries(snippets).map(([name, code]) => writeFile(path.join(dir, name), code)),
    writeFile(path.join(dir, 'client-run.ts'), README_CLIENT_RUN),
    writeJson(path.join(dir, 'tsconfig.json'), README_TS_CONFIG),
  ]);
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const compiled = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], {
    cwd: dir,
    env: childEnv(),
    timeout: 90_000,
  });
  return { dir, compiled };
}

describe('packed packages (npm pack → publint → install in throw-away projects)', function () {
  this.timeout(180_000);

  let work: string | undefined;
  let packages: WorkspacePackage[];
  let packed: PackedPackage[];

  before(async function () {
    packages = await publishablePackages();
    assert.deepEqual(
      EXPECTED.filter((name) => !packages.some((pkg) => pkg.manifest.name === name)),
      [],
      'packages the consumer checks use are missing or private',
    );
    for (const pkg of packages) {
      assert.ok(
        existsSync(path.join(pkg.dir, 'dist', 'index.js')) &&
          existsSync(path.join(pkg.dir, 'dist', 'index.d.ts')),
        `${pkg.location}/dist is not built: run \`npm run build\` (tsc -b) before this test`,
      );
    }
    // realpath: on macOS the temp dir is a symlink, and module paths are reported resolved.
    work = await realpath(await mkdtemp(path.join(tmpdir(), 'bearer-guard-consumers-')));
    const tarballs = path.join(work, 'tarballs');
    await mkdir(tarballs);
    packed = await Promise.all(packages.map((pkg) => pack(pkg, tarballs)));
  });

  after(async function () {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('runs prepack (the build) before packing each package', function () {
    for (const pkg of packed) {
      assert.equal(
        (pkg.manifest['scripts'] as Record<string, string> | undefined)?.['prepack'],
        'tsc -b',
        `${pkg.location}: "prepack": "tsc -b", so \`npm pack\`/\`npm publish\` never ship a stale or missing dist`,
      );
      assert.match(pkg.log, /> \S+ prepack\n> tsc -b/, `${pkg.location}: npm pack did not run prepack`);
    }
  });

  it('packs package.json, README.md, LICENSE, dist/ and the sources its maps point at: no tests, no tsbuildinfo', function () {
    for (const pkg of packed) {
      const unexpected = pkg.files.filter(
        (file) =>
          !(
            ['package.json', 'README.md', 'LICENSE'].includes(file) ||
            file.startsWith('dist/') ||
            (file.startsWith('src/') && file.endsWith('.ts'))
          ) ||
          file.endsWith('.tsbuildinfo') ||
          /(^|\/)(test|tests|__tests__)\/|\.(test|spec)(-d)?\.[cm]?[jt]s$/.test(file),
      );
      assert.deepEqual(unexpected, [], `${pkg.location}: unexpected files in the tarball`);
      for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts']) {
        assert.ok(pkg.files.includes(file), `${pkg.location}: ${file} is missing from the tarball`);
      }
      assert.equal(
        path.basename(pkg.tarball),
        `${pkg.manifest.name.replace(/^@/, '').replace('/', '-')}-${pkg.manifest.version}.tgz`,
      );
    }
  });

  it('ships a README (install, example, link to the full docs) and the MIT LICENSE in every tarball', async function () {
    const rootLicense = await readFile(path.join(ROOT, 'LICENSE'), 'utf8');
    assert.match(rootLicense, /^MIT License\n/, 'the repository root has the MIT LICENSE');
    for (const pkg of packed) {
      assert.equal(pkg.manifest['license'], 'MIT');
      assert.equal(
        await readFile(path.join(pkg.dir, 'LICENSE'), 'utf8'),
        rootLicense,
        `${pkg.location}/LICENSE must be the root LICENSE`,
      );
      const readme = await readFile(path.join(pkg.dir, 'README.md'), 'utf8');
      assert.ok(readme.startsWith(`# ${pkg.manifest.name}\n`), `${pkg.location}/README.md: title`);
      assert.match(
        readme,
        new RegExp(`npm install (--save-dev )?${pkg.manifest.name}`),
        `${pkg.location}: install`,
      );
      assert.match(readme, new RegExp(`from '${pkg.manifest.name}'`), `${pkg.location}: an example`);
      assert.match(
        readme,
        /https:\/\/github\.com\/bearer-guard\/bearer-guard#readme/,
        `${pkg.location}: docs link`,
      );
    }
  });

  it('source maps and declaration maps point only at shipped files, and every shipped source is one of theirs', async function () {
    for (const pkg of packed) {
      const shipped = new Set(pkg.files);
      const mapped = new Set<string>();
      for (const file of pkg.files.filter((name) => name.endsWith('.map'))) {
        const map = JSON.parse(await readFile(path.join(pkg.dir, file), 'utf8')) as {
          sourceRoot?: string;
          sources: string[];
        };
        for (const source of map.sources) {
          const target = path.posix.normalize(
            path.posix.join(path.posix.dirname(file), map.sourceRoot ?? '', source),
          );
          assert.ok(
            shipped.has(target),
            `${pkg.location}: ${file} points at ${target}, which is not shipped`,
          );
          mapped.add(target);
        }
      }
      const unmapped = pkg.files.filter((file) => file.startsWith('src/') && !mapped.has(file));
      assert.deepEqual(unmapped, [], `${pkg.location}: sources no map needs`);
    }
  });

  it('imports only declared dependencies (hoisting in the consumers would hide a missing one)', async function () {
    for (const pkg of packed) {
      const { dependencies = {}, peerDependencies = {}, optionalDependencies = {} } = pkg.manifest;
      const declared = new Set([
        ...Object.keys(dependencies),
        ...Object.keys(peerDependencies),
        ...Object.keys(optionalDependencies),
      ]);
      const undeclared = new Set<string>();
      for (const file of pkg.files.filter((name) => /\.(js|d\.ts)$/.test(name))) {
        for (const specifier of importedSpecifiers(await readFile(path.join(pkg.dir, file), 'utf8'))) {
          if (
            specifier.startsWith('.') ||
            specifier.startsWith('node:') ||
            builtinModules.includes(specifier)
          )
            continue;
          const name = specifier.split('/', specifier.startsWith('@') ? 2 : 1).join('/');
          if (!declared.has(name)) undeclared.add(`${name} (${file})`);
        }
      }
      assert.deepEqual(
        [...undeclared],
        [],
        `${pkg.location}: imported but not in dependencies or peerDependencies`,
      );
    }
  });

  it('passes publint --strict on every tarball', async function () {
    const cli = await publintCli();
    const results = await Promise.all(
      packed.map((pkg) => run(process.execPath, [cli, 'run', '--strict', pkg.tarball], { cwd: ROOT })),
    );
    results.forEach((result, index) => {
      const pkg = packed[index]!;
      assert.equal(result.code, 0, describeRun(`publint --strict ${path.basename(pkg.tarball)}`, result));
    });
  });

  describe('installed from the tarballs', function () {
    let esm: string;
    let cjs: string;
    /** The README project, written and compiled while the other checks run (tsc is the slow part). */
    let readme: Promise<{ dir: string; compiled: RunResult }>;

    before(async function () {
      // The peers of the packages (express) come from the consumer, at the version the workspace uses.
      const peers: DirectDependency[] = packed.flatMap((pkg) =>
        Object.keys(pkg.manifest.peerDependencies ?? {})
          .filter(
            (name) =>
              !EXPECTED.includes(name) && pkg.manifest.peerDependenciesMeta?.[name]?.optional !== true,
          )
          .map((name) => ({ name, from: pkg.location })),
      );
      const types: DirectDependency[] = [
        { name: '@types/node', from: '' },
        { name: '@types/express', from: '' },
      ];
      [esm, cjs] = await Promise.all([
        installConsumer(work!, 'esm', 'module', packed, [...peers, ...types]),
        installConsumer(work!, 'cjs', 'commonjs', packed, peers),
      ]);
      readme = compileReadme(esm);
      readme.catch(() => undefined); // awaited (and reported) by its test
    });

    it('ESM: imports the packages and validates a token minted by the testkit stub, also through Express', async function () {
      await writeFile(path.join(esm, 'main.js'), ESM_MAIN);
      const report = parseReport(
        'the ESM consumer',
        await run(process.execPath, ['main.js'], { cwd: esm, env: childEnv(), timeout: 60_000 }),
      );
      assertResolvedInside(esm, report['resolved']);
      assert.deepEqual(report['types'], {
        authenticate: 'function',
        requireScopes: 'function',
        createGuard: 'function',
        BearerGuardError: 'function',
        startAuthorizationServer: 'function',
      });
      assert.equal(
        report['sameErrorClass'],
        true,
        '@bearer-guard/express must re-export the core BearerGuardError',
      );
      const stub = report['stub'] as { issuer: string; audience: string };
      assert.match(stub.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(report['principal'], {
        subject: 'consumer-esm',
        issuer: stub.issuer,
        audience: [stub.audience],
        scopes: ['orders:read'],
      });
      assert.deepEqual(report['wrongAudience'], {
        isBearerGuardError: true,
        code: 'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
        status: 401,
      });
      const http = report['http'] as Record<'valid' | 'missing' | 'insufficientScope', HttpOutcome>;
      assert.deepEqual(http.valid, { status: 200, challenge: null, body: { subject: 'consumer-esm' } });
      assert.equal(http.missing.status, 401);
      assert.match(http.missing.challenge ?? '', /^Bearer\b/);
      assert.doesNotMatch(
        http.missing.challenge ?? '',
        /error=/,
        'RFC 6750 §3.1: no error code without credentials',
      );
      assert.equal(http.insufficientScope.status, 403);
      assert.match(http.insufficientScope.challenge ?? '', /^Bearer .*error="insufficient_scope"/);
      assert.match(http.insufficientScope.challenge ?? '', /scope="orders:read"/);
      assert.equal((http.insufficientScope.body as { error?: unknown } | null)?.error, 'insufficient_scope');
    });

    it('CommonJS: require()s the ESM-only packages (require(esm), Node >= 20.19) and validates a token', async function () {
      await writeFile(path.join(cjs, 'main.js'), CJS_MAIN);
      const report = parseReport(
        'the CommonJS consumer',
        await run(process.execPath, ['main.js'], { cwd: cjs, env: childEnv(), timeout: 60_000 }),
      );
      assert.equal(
        report['requireModule'],
        true,
        'this Node has no require(esm); the packages need Node >= 20.19',
      );
      assertResolvedInside(cjs, report['resolved']);
      assert.deepEqual(report['types'], {
        createGuard: 'function',
        BearerGuardError: 'function',
        authenticate: 'function',
        requireScopes: 'function',
        startAuthorizationServer: 'function',
      });
      assert.equal(report['sameErrorClass'], true);
      const stub = report['stub'] as { issuer: string };
      assert.deepEqual(report['principal'], { subject: 'consumer-cjs', issuer: stub.issuer });
    });

    it('TypeScript (module nodenext, skipLibCheck off): the shipped declarations type-check in ESM and CJS code', async function () {
      await Promise.all([
        writeFile(path.join(esm, 'index.ts'), TS_MAIN),
        writeFile(path.join(esm, 'require.cts'), TS_REQUIRE),
        writeJson(path.join(esm, 'tsconfig.json'), TS_CONFIG),
      ]);
      const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], {
        cwd: esm,
        env: childEnv(),
        timeout: 90_000,
      });
      assert.equal(result.code, 0, describeRun('tsc in the TypeScript consumer', result));
    });

    it("README: the Quick start, Testing and client snippets compile (strict, nodenext) and run against the testkit's server", async function () {
      const { dir, compiled } = await readme;
      assert.equal(compiled.code, 0, describeRun('tsc on the README snippets', compiled));

      const env = childEnv({ GATEWAY_SECRET: 'gateway-secret-for-the-readme-test' });
      const [tested, client] = await Promise.all([
        run(process.execPath, ['--test', '--test-reporter=tap', 'out/app.test.js'], {
          cwd: dir,
          env,
          timeout: 60_000,
        }),
        run(process.execPath, ['out/client-run.js'], { cwd: dir, env, timeout: 60_000 }),
      ]);
      assert.equal(tested.code, 0, describeRun("node --test on the README's app.test.ts", tested));
      assert.match(tested.stdout, /^# pass 3$/m, describeRun('the README tests', tested));
      assert.match(tested.stdout, /^# fail 0$/m);
      assert.deepEqual(parseReport("the README's client snippet", client), {
        status: 200,
        body: { caller: 'gateway' },
        grants: ['client_credentials'],
        withoutToken: 401,
      });
    });
  });
});
