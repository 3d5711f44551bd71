export {
  type EvaluateOptions,
  type EvaluationResult,
  evaluate,
  type MetricName,
} from './evaluate';
export { faissAvailable } from './faiss';
export type { EmbeddingsInput, LabelsInput } from './input';
export { type Npy, type NpyArray, type NpyDtype, readNpy, writeNpy } from './npy';
export type { Similarity } from './search';
