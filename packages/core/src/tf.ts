/**
 * The single TensorFlow.js instance every Recallkit package computes with. Packages import `tf`
 * from `@recallkit/core`, never from `@tensorflow/tfjs` directly, so that one kernel and gradient
 * registry serves them all. The union package is imported (not tfjs-core alone) because only it
 * fills the gradient registry under Node ESM.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
