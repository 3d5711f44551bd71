#!/usr/bin/env node
// Checks every package as a user receives it: builds, packs it with pnpm (workspace:* becomes a
// version), lints the tarball with publint and are-the-types-wrong, installs all tarballs into an
// empty project outside the workspace, and runs the first ```js block of each package README there.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const bin = (name) => join(root, 'node_modules', '.bin', name);

const packages = readdirSync(join(root, 'packages')).map((dir) => {
  const path = join(root, 'packages', dir);
  return { dir, path, manifest: JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) };
});

run('pnpm', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], root);
const work = mkdtempSync(join(tmpdir(), 'recallkit-packed-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);

const failures = [];
for (const pkg of packages) {
  const tgz = run('pnpm', ['pack', '--pack-destination', tarballs], pkg.path).trim().split('\n').pop();
  pkg.tarball = tgz;
  try {
    run(bin('publint'), ['run', '--strict', pkg.path], root);
  } catch {
    failures.push(`${pkg.manifest.name}: publint`);
  }
  try {
    // node16 resolution in both module systems, and bundlers; ESM-only deps seen from CJS are not ours to fix.
    run(bin('attw'), [tgz, '--profile', 'node16', '--format', 'table-flipped'], root);
  } catch (e) {
    failures.push(`${pkg.manifest.name}: are-the-types-wrong\n${e.stdout ?? ''}`);
  }
}

const project = join(work, 'project');
mkdirSync(project);
writeFileSync(
  join(project, 'package.json'),
  JSON.stringify({ name: 'user-project', private: true, type: 'module' }),
);
console.log(`installing ${packages.length} tarballs into ${project}`);
run(
  'npm',
  ['install', '--no-audit', '--no-fund', '--loglevel=error', ...packages.map((p) => p.tarball)],
  project,
);

for (const pkg of packages) {
  const readme = readFileSync(join(pkg.path, 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example) {
    failures.push(`${pkg.manifest.name}: README has no \`\`\`js example`);
    continue;
  }
  const file = join(project, `example-${pkg.dir}.mjs`);
  writeFileSync(file, example);
  try {
    const out = run('node', [file], project);
    console.log(`${pkg.manifest.name}: README example ran\n${out.replace(/^/gm, '  | ')}`);
  } catch (e) {
    failures.push(`${pkg.manifest.name}: README example failed\n${e.stdout ?? ''}`);
  }
}

if (failures.length > 0) {
  console.error(`\n${failures.length} package check(s) failed:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log(`all ${packages.length} packages: packed, linted, installed and their README examples ran`);
