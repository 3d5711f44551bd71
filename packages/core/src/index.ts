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
export { errorCodes, isRecallkitError, RecallkitError, type RecallkitErrorCode } from './errors';
export { chooseImplementation, type Implementation } from './implementation';
export { type Labels, labelArray } from './labels';
export { createRng, type Rng, type RngState, restoreRng } from './rng';
export {
  forEachSimilarityBlock,
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
export { registerWasmKernels, wasmKernels } from './wasm/register';
export { maxWasmThreads } from './wasm/threads';

import { installWasmBackend } from './backend';
import { registerWasmKernels } from './wasm/register';

// Side effects, on purpose: importing core makes `wasm` able to train conv nets, and able to run
// on several threads under Node.js.
registerWasmKernels();
installWasmBackend();
