import { defineConfig } from 'tsup';

/** The build of a library package: ESM and CommonJS with declarations, for Node.js 20; `extra` per package. */
export function library(extra = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    ...extra,
  });
}

export default library();
