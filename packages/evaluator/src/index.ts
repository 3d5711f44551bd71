export {
  EVALUATE_DEFAULTS,
  EVALUATE_OPTIONS,
  type EvaluateOptions,
  type EvaluationResult,
  evaluate,
  type MetricName,
  type RankMetricName,
} from './evaluate';
export { type FaissInfo, type FaissSource, faissAvailable, faissInfo } from './faiss';
export type { EmbeddingsInput } from './input';
export { type Npy, type NpyArray, type NpyDtype, readNpy, writeNpy } from './npy';
export {
  computeRevisitedMap,
  type EvaluateRevisitedOptions,
  evaluateRevisited,
  type RankingInput,
  REVISITED_KS,
  REVISITED_SETUPS,
  type RevisitedGroundTruth,
  type RevisitedOptions,
  type RevisitedQuerySetup,
  type RevisitedQueryTruth,
  type RevisitedResult,
  type RevisitedSetup,
  type RevisitedSetupResult,
  revisitedAveragePrecision,
  revisitedMetrics,
  revisitedSetups,
} from './revisited';
export type { Similarity } from './search';
export {
  type CreateIndexOptions,
  createIndex,
  type IndexId,
  loadIndex,
  type SearchHits,
  type SearchIndex,
} from './search-index';
