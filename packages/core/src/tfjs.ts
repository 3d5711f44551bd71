/**
 * The TensorFlow.js namespace Recallkit computes with, assembled from the parts it uses: the ops
 * and engine (tfjs-core), layers and models (tfjs-layers), graph models (tfjs-converter) and the
 * `cpu` backend. The same exports as `@tensorflow/tfjs` 4.22 less `tf.data` and the WebGL
 * backend. Gradients and chained ops are registered in `tf.ts`.
 */
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { version_converter } from '@tensorflow/tfjs-converter';
import { version_core } from '@tensorflow/tfjs-core';
import { version_layers } from '@tensorflow/tfjs-layers';

export * from '@tensorflow/tfjs-backend-cpu';
export * from '@tensorflow/tfjs-converter';
// tfjs-core first: bundled declarations resolve a name these modules re-export to the first.
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';

/** Versions of the TensorFlow.js packages in use; `tfjs` is the release they belong to. */
export const version = {
  'tfjs-core': version_core,
  'tfjs-backend-cpu': version_cpu,
  'tfjs-backend-wasm': version_wasm,
  'tfjs-layers': version_layers,
  'tfjs-converter': version_converter,
  tfjs: version_core,
};
