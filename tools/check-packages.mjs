#!/usr/bin/env node
// Checks every package as a user receives it: builds, packs it with pnpm (workspace:* becomes a
// version), lints the tarball with publint and are-the-types-wrong, installs all tarballs into an
// empty project outside the workspace, and runs the first ```js block of each package README there.
// Then it proves that faiss loads there from @recallkit/faiss-linux-x64 alone (see the last part).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  // A relative link must resolve inside the installed package (npm shows the README from there).
  const installed = join(project, 'node_modules', pkg.manifest.name);
  for (const [, target] of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?:|mailto:|#)/.test(target)) continue;
    if (!existsSync(join(installed, target.split('#')[0]))) {
      failures.push(`${pkg.manifest.name}: README links to ${target}, which the package does not ship`);
    }
  }
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

// Mounts over Debian's faiss, BLAS, LAPACK and GCC runtime libraries, then runs "$@". Only ever
// run inside `unshare -m --propagation private`: the mounts live and die with that namespace.
const HIDE_DEBIAN_LIBS = `set -euo pipefail
for dir in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /usr/local/lib; do
  [ -d "$dir" ] || continue
  for p in "$dir"/*; do
    case "\${p##*/}" in
    *faiss* | *blas* | *lapack* | libgomp* | libgfortran* | libquadmath*)
      t=$(readlink -f "$p")
      if [ -d "$t" ]; then mount -t tmpfs -o ro none "$t"; elif [ -f "$t" ]; then mount --bind /dev/null "$t"; fi ;;
    esac
  done
done
exec "$@"
`;

// Run in the user project: faiss must come from the installed prebuilt package and search right.
// argv: the installed package's folder, then the sonames that must no longer load (the control).
const FAISS_PROOF = `import { readFileSync } from 'node:fs';
import { createIndex, faissInfo } from '@recallkit/evaluator';

const [installed, ...mustNotLoad] = process.argv.slice(2);
for (const name of mustNotLoad) {
  let loaded = true;
  try {
    process.dlopen({ exports: {} }, name);
  } catch (e) {
    loaded = /self-register/.test(e.message);
  }
  if (loaded) throw new Error(\`\${name} still loads: Debian's libraries are not hidden\`);
}
if (mustNotLoad.length) console.log(\`hidden, no longer loadable: \${mustNotLoad.join(' ')}\`);

const info = faissInfo();
console.log('faissInfo():', JSON.stringify(info));
if (info.source !== '@recallkit/faiss-linux-x64') throw new Error('faiss did not load from @recallkit/faiss-linux-x64');

// 500 random 16-d vectors, 20 queries: faiss's 5 nearest (cosine) against brute force in float64.
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
const rows = (n) => Array.from({ length: n }, () => Array.from({ length: 16 }, rand));
const gallery = rows(500);
const queries = rows(20);
const index = await createIndex(gallery, gallery.map((_, i) => i), { index: 'faiss' });
const hits = await index.search(queries, 5);
const unit = (r) => r.map((v) => v / Math.hypot(...r));
for (const [q, query] of queries.entries()) {
  const u = unit(query);
  const want = gallery
    .map((g, i) => [unit(g).reduce((s, v, j) => s + v * u[j], 0), i])
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([, i]) => i);
  if (hits.ids[q].join() !== want.join()) throw new Error(\`query \${q}: faiss \${hits.ids[q]}, brute force \${want}\`);
}
console.log(\`\${index.name}: the 5 nearest of 20 queries equal brute force\`);

// What this process mapped: no faiss, BLAS, LAPACK or OpenMP file from outside the package.
const mapped = [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).filter((f) => f?.startsWith('/')))];
const foreign = mapped.filter((f) => /faiss|blas|lapack|gomp|gfortran|quadmath/.test(f) && !f.startsWith(\`\${installed}/\`));
if (foreign.length) throw new Error(\`mapped from outside the package: \${foreign.join(' ')}\`);
console.log(\`mapped from the package: \${mapped.filter((f) => f.startsWith(installed)).map((f) => f.slice(installed.length + 1)).join(' ')}\`);
`;

// faiss from the installed tarballs, with nothing of Debian's faiss, BLAS or GCC runtimes in reach.
// Two proofs, each enough on its own, and what stands where the second cannot be made:
// 1. What the addon asks the dynamic loader for: its NEEDED entries (readelf -d) are glibc,
//    libgcc_s (Node.js links it itself) and libgomp.so.1, and ldd resolves that one to the copy in
//    the package. No NEEDED entry names faiss, BLAS, LAPACK or gfortran; a statically linked
//    library cannot be looked up at run time, so this already settles it for any machine.
// 2. Running it with Debian's libraries hidden: in a private mount namespace (unshare -m as root,
//    unshare -rm in a user namespace otherwise) every file and folder of the multiarch library
//    folder named like faiss, BLAS, LAPACK, libgomp, libgfortran or libquadmath is covered (an
//    empty tmpfs over a folder, /dev/null over a file), which makes them unloadable for that
//    process tree and no other. A control shows the hiding works: dlopen of each such soname
//    that loads outside must fail inside. Inside, faiss must load from @recallkit/faiss-linux-x64
//    (faiss-node is not installed in the project), search as brute force does, leave no Debian
//    faiss/BLAS/OpenMP file in /proc/self/maps, and `recallkit info` must say where it came from.
//    Hiding by LD_LIBRARY_PATH would prove nothing (it adds places to look, it removes none), and a
//    copy of the addon in a temporary folder only repeats proof 1.
// 3. Where no namespace can be made (no unshare, no user namespaces), proof 1 and the same run
//    without hiding, with /proc/self/maps checked, still stand; the log says the hiding was skipped.
const faissPackage = packages.find((p) => p.manifest.name === '@recallkit/faiss-linux-x64');
if (faissPackage && process.platform === 'linux' && process.arch === 'x64') {
  const installed = join(project, 'node_modules', '@recallkit', 'faiss-linux-x64');
  const addon = join(installed, 'dist', 'faiss-node.node');
  const tarballFiles = run('tar', ['-tzf', faissPackage.tarball], root).split('\n');
  for (const file of ['package/dist/faiss-node.node', 'package/dist/libgomp.so.1'])
    if (!tarballFiles.includes(file)) failures.push(`@recallkit/faiss-linux-x64: the tarball lacks ${file}`);
  if (existsSync(join(project, 'node_modules', 'faiss-node')))
    failures.push('faiss-node was installed into the project: nothing may come from it');
  const proved = existsSync(addon) ? proveFaiss(installed, addon) : [`${addon} was not installed`];
  failures.push(...proved.map((f) => `@recallkit/faiss-linux-x64: ${f}`));
}

/** The proofs above; returns what failed. */
function proveFaiss(installed, addon) {
  const problems = [];
  const allowed =
    /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux-x86-64\.so\.2|libgcc_s\.so\.1|libgomp\.so\.1)$/;
  const needed = [
    ...run('readelf', ['-d', addon], project).matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g),
  ].map((m) => m[1]);
  console.log(`faiss addon ${addon}\n  NEEDED: ${needed.join(' ')}`);
  for (const lib of needed) if (!allowed.test(lib)) problems.push(`the addon needs ${lib}`);
  const hiddenName = /faiss|blas|lapack|libgomp|libgfortran|libquadmath/;
  const checkLdd = (ldd) => {
    for (const line of ldd.split('\n')) {
      if (/not found/.test(line)) problems.push(`ldd: ${line.trim()}`);
      const [, name, path] = /^\s*(\S+) => (\S+)/.exec(line) ?? [];
      if (name && hiddenName.test(name) && !path.startsWith(`${installed}/`))
        problems.push(`ldd resolves ${name} to ${path}, outside the package`);
    }
  };
  checkLdd(run('ldd', [addon], project));

  // Sonames of Debian's libraries that load outside the namespace: the control's subjects.
  const sonames = ['libopenblas.so.0', 'libblas.so.3', 'liblapack.so.3', 'libgomp.so.1', 'libgfortran.so.5'];
  const loadable = sonames.filter(
    (n) =>
      spawnSync('node', [
        '-e',
        `try { process.dlopen({ exports: {} }, '${n}') } catch (e) { if (!/self-register/.test(e.message)) process.exit(1) }`,
      ]).status === 0,
  );
  const proof = join(project, 'faiss-proof.mjs');
  writeFileSync(proof, FAISS_PROOF);
  const hide = join(work, 'hide-debian-libs.sh');
  writeFileSync(hide, HIDE_DEBIAN_LIBS);
  // The probe is the hiding itself, so a namespace that cannot mount counts as none.
  const unshare = [...(process.getuid?.() === 0 ? ['-m'] : ['-r', '-m']), '--propagation', 'private'];
  const namespaceWorks =
    spawnSync('unshare', [...unshare, 'bash', hide, 'true'], { stdio: 'ignore' }).status === 0;
  const inside = (cmd, args) =>
    namespaceWorks
      ? run('unshare', [...unshare, 'bash', hide, cmd, ...args], project)
      : run(cmd, args, project);
  if (!namespaceWorks)
    console.log("  no mount namespace here: Debian's libraries stay visible (proof 1 and point 3 only)");
  try {
    if (namespaceWorks && loadable.length === 0)
      console.log('  no Debian faiss/BLAS/OpenMP library here to hide');
    const out = inside('node', [proof, installed, ...(namespaceWorks ? loadable : [])]);
    console.log(out.replace(/^/gm, '  | '));
    if (namespaceWorks) checkLdd(inside('ldd', [addon]));
    const info = inside(join(project, 'node_modules', '.bin', 'recallkit'), ['info']);
    const line = info.split('\n').find((l) => l.startsWith('faiss ')) ?? '(no faiss line)';
    console.log(`  recallkit info${namespaceWorks ? ', libraries hidden' : ''}: ${line}`);
    if (!/^faiss\s+loaded from @recallkit\/faiss-linux-x64 /.test(line))
      problems.push(`recallkit info says: ${line}`);
    const example = inside('node', [join(project, 'example-evaluator.mjs')]);
    if (!/faiss:IndexFlatIP/.test(example))
      problems.push("the evaluator's README example did not search with faiss");
  } catch (e) {
    problems.push(`faiss from the installed tarballs failed\n${e.stdout ?? ''}`);
  }
  return problems;
}

if (failures.length > 0) {
  console.error(`\n${failures.length} package check(s) failed:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log(`all ${packages.length} packages: packed, linted, installed and their README examples ran`);
