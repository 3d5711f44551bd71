export { atomicTemporary, removeOrphanTemporaries, writeFileAtomic } from './atomic';
export {
  type BackendDescription,
  type BackendName,
  backendNames,
  describeBackend,
  nativePackages,
  type UseBackendOptions,
  useBackend,
} from './backend';
export { isRecallkitError, RecallkitError } from './errors';
export { createRng, type Rng, type RngState, restoreRng } from './rng';
export {
  forEachSimilarityBlock,
  type Labels,
  l2Normalize,
  type RelevanceMaskOptions,
  relevanceMask,
  type SimilarityBlock,
  type SimilarityBlockOptions,
  type SimilarityMetric,
  type SimilarityOptions,
  similarity,
  similarityBlocks,
} from './similarity';
export { releaseActiveTape, releasingTapeOnError } from './tape';
export { assertNoTensorLeaks } from './testing';
export { tf } from './tf';
export { registerWasmGradientKernels, wasmGradientKernels } from './wasm-gradients';

export { maxWasmThreads } from './wasm-threads';

import { installWasmBackend } from './backend';
import { registerWasmGradientKernels } from './wasm-gradients';

// Side effects, on purpose: importing core makes `wasm` able to train conv nets, and able to run
// on several threads under Node.js.
registerWasmGradientKernels();
installWasmBackend();
