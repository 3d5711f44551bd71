import { library } from '../../tools/tsup.shared.mjs';

export default library({
  // tfjs.ts is an entry of its own so that its declarations keep the `export * from` lines.
  entry: ['src/index.ts', 'src/tfjs.ts'],
  dts: {
    // The chained-op methods' types (`x.square()`), which src/tf.ts brings in by importing them.
    banner: "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';",
  },
  // src/tf.ts imports the namespace through the package's own `./tfjs` entry (see there).
  external: ['@recallkit/core/tfjs'],
});
