import type { Registry } from '@recallkit/registry';
import { loadExperiment } from './config';
import { runExperiment } from './pipeline';
import type { RunResult } from './results';

/** One unit of bench work: an experiment file, a seed, trained or not (the floor). */
export interface Job {
  readonly config: string;
  readonly seed: number;
  readonly train: boolean;
  /** Overrides of the file's `train.epochs` (the bench's budget flag). */
  readonly epochs?: number;
}

export interface JobProgress {
  readonly step: number;
  readonly total: number;
  readonly loss: number;
}

/** Runs a job in this process: loads the experiment (and its plugins), trains and evaluates. */
export async function runJob(
  job: Job,
  registry: Registry,
  onProgress: (progress: JobProgress) => void = () => {},
): Promise<RunResult> {
  let experiment = await loadExperiment(job.config, registry);
  if (job.epochs !== undefined)
    experiment = { ...experiment, train: { ...experiment.train, epochs: job.epochs } };
  return runExperiment(experiment, job.seed, registry, {
    train: job.train,
    onStep: ({ step, total, loss }) => onProgress({ step, total, loss }),
  });
}
