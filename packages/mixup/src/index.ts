export {
  extendedRelevance,
  type MixImplementation,
  mixEmbeddings,
  mixSimilarities,
  selfColumns,
} from './mixing';
export { authorsPairOrder } from './pairs';
export { type MixPlan, type MixupOptions, type PlanSources, planMixup } from './plan';
export type { RandomSource } from './rng';
export { type SimixLoss, type SimixOptions, scoreBlock, simix } from './simix';
