export { type BackendName, useBackend } from './backend';
export { RecallkitError } from './errors';
export { createRng, type Rng, type RngState, restoreRng } from './rng';
export { tf } from './tf';
export { registerWasmGradientKernels, wasmGradientKernels } from './wasm-gradients';

import { registerWasmGradientKernels } from './wasm-gradients';

// Side effect, on purpose: importing core makes `wasm` able to train conv nets.
registerWasmGradientKernels();
