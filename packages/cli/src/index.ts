export { type BenchEvent, type BenchOptions, type BenchResult, runBench } from './bench';
export { registerBuiltins } from './builtins';
export { experimentFromObject, loadExperiment, parseConfigText, readExperimentFile } from './config';
export { collectInfo, formatInfo, type Info } from './info';
export {
  type InstanceEvaluatorOptions,
  InstanceTestSet,
  instanceEvaluator,
  NoTrainingSplit,
  type RevisitedSplitsOptions,
  revisitedSplits,
} from './instance';
export { type Job, runJob } from './jobs';
export { buildModel, type RunOptions, runExperiment, type ScheduleConfig } from './pipeline';
export { loadPlugins, type PluginModule } from './plugins';
export { createProgram, type Io, main } from './program';
export {
  curvesChart,
  htmlReport,
  markdownTable,
  recallChart,
  svgToPng,
  writeReport,
} from './report/index';
export { type Evaluation, type RunResult, type Stat, type Summary, stat, summarise } from './results';
export {
  type BuildIndexOptions,
  buildIndex,
  datasetSource,
  defaultPreprocessing,
  type ExportedModel,
  folderSource,
  type ImagePreprocessing,
  type IndexSource,
  imagesInFolder,
  openExport,
  type QueryResult,
  queryIndex,
} from './serve';
export type * from './types';
