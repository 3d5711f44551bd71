// Where tools/setup built a faiss addon, faiss must load: otherwise every faiss variant of the
// evaluator's tests would be skipped without a failure. (.ci/run also fails when the evaluator
// skips tests on a machine holding the prebuilt addon.)
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { faissAvailable, faissInfo } from '../src/index';

const require = createRequire(import.meta.url);

/** The addons tools/setup builds: @recallkit/faiss-linux-x64's and faiss-node's own. */
function builtAddons(): string[] {
  const found: string[] = [];
  for (const [pkg, file] of [
    ['@recallkit/faiss-linux-x64', join('dist', 'faiss-node.node')],
    ['faiss-node', join('build', 'Release', 'faiss-node.node')],
  ] as const) {
    try {
      const path = join(dirname(require.resolve(`${pkg}/package.json`)), file);
      if (existsSync(path)) found.push(path);
    } catch {
      // not installed
    }
  }
  return found;
}

const built = builtAddons();

describe('faiss where tools/setup built it', () => {
  it.runIf(built.length > 0)('loads', () => {
    expect(faissAvailable(), `built ${built.join(', ')} but no faiss loaded: ${faissInfo().reason}`).toBe(
      true,
    );
  });
});
