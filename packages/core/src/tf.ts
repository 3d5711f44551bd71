/**
 * The single TensorFlow.js instance every Recallkit package computes with. Packages import `tf`
 * from `@recallkit/core`, never from `@tensorflow/tfjs*` directly, so that one kernel and gradient
 * registry serves them all.
 *
 * Recallkit depends on the TensorFlow.js packages it uses, not on the `@tensorflow/tfjs` union
 * (whose WebGL backend and browser bundles make up most of its install size). tfjs-core's Node.js
 * entry registers neither gradients nor chained ops (`x.square()`); the union's Node.js bundle
 * inlines both registrations, and `tfjs-registrations.js` is the same code, bundled from tfjs-core
 * by scripts/bundle-tfjs-registrations.mjs. Engine and registries are process globals, so these
 * registrations fill the ones `@tensorflow/tfjs-core` and every backend (tfjs-node too) use.
 */
import '@tensorflow/tfjs-core';
import type {} from '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import './tfjs-registrations.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// The package's own `./tfjs` entry, not a relative import: bundled declarations cannot hold a
// namespace of re-exported modules, so dist/index.d.ts imports it as dist/tfjs.d.ts.
import * as tf from '@recallkit/core/tfjs';

export { tf };
