import { RecallkitError } from '@recallkit/core';
import { z } from 'zod';
import { describeIssues } from './issues';
import type { ComponentKind } from './kinds';
import type { ComponentId, Registry } from './registry';

/**
 * A component named in a config: `rsk`, or `{ name: rsk, tau: 0.01 }` where every key but `name`
 * is an option checked against the component's own schema.
 */
export const componentRefSchema = z.union(
  [z.string().min(1), z.looseObject({ name: z.string().min(1, 'expected a component name') })],
  {
    error: (issue) =>
      `${issue.input === undefined ? 'missing: ' : ''}expected a component name or { name, ...options }`,
  },
);
export type ComponentRef = z.infer<typeof componentRefSchema>;

/** A component after validation: its canonical id and its options with defaults filled in. */
export interface ResolvedRef {
  readonly id: ComponentId;
  readonly options: Record<string, unknown>;
}

const seedSchema = z.number().int().nonnegative();

/** The shape of an experiment file (YAML or JSON). Component options are checked by the registry. */
export const experimentSchema = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, 'expected a name of letters, digits, "-", "_" or "."'),
  description: z.string().optional(),
  /** Packages (or paths) whose `register(registry)` export adds components before validation. */
  plugins: z.array(z.string().min(1)).default([]),
  /** One run per seed; the seed fixes initialisation, batches and mixing. */
  seeds: z.array(seedSchema).min(1).default([0]),
  backend: componentRefSchema.default('wasm'),
  dataset: componentRefSchema,
  sampler: componentRefSchema,
  model: z.strictObject({ backbone: componentRefSchema, head: componentRefSchema.optional() }),
  loss: componentRefSchema,
  mixup: componentRefSchema.optional(),
  optimizer: componentRefSchema,
  schedule: componentRefSchema.optional(),
  train: z
    .strictObject({
      /** Passes over the sampler's batches; a fraction trains that share of the last pass. */
      epochs: z.number().positive(),
      /** Images embedded at once in the chunked large-batch step (memory grows with it, not the batch). */
      chunk: z.number().int().positive().optional(),
      /** Record the training loss every this many steps. */
      logEvery: z.number().int().positive().default(1),
      /** Train on augmented images (the dataset's own transform; datasets without one ignore it). */
      augment: z.boolean().default(true),
      /** Also evaluate after every this many epochs and keep the best model (0: only at the end). */
      evaluateEvery: z.number().int().nonnegative().default(0),
      /** The metric that picks the best evaluation: 'recall@<k>' or 'map@r'. */
      selectBy: z
        .string()
        .regex(/^(recall@\d+|map@r)$/, "expected 'recall@<k>' or 'map@r'")
        .default('recall@1'),
    })
    .default({ epochs: 1, logEvery: 1, augment: true, evaluateEvery: 0, selectBy: 'recall@1' }),
  evaluator: componentRefSchema.default('retrieval'),
});

export type ExperimentInput = z.input<typeof experimentSchema>;

/** A validated experiment: every component resolved to its id and validated options. */
export interface Experiment {
  readonly name: string;
  readonly description?: string;
  readonly plugins: readonly string[];
  readonly seeds: readonly number[];
  readonly train: {
    readonly epochs: number;
    readonly chunk?: number;
    readonly logEvery: number;
    readonly augment: boolean;
    readonly evaluateEvery: number;
    readonly selectBy: string;
  };
  readonly components: {
    readonly backend: ResolvedRef;
    readonly dataset: ResolvedRef;
    readonly sampler: ResolvedRef;
    readonly backbone: ResolvedRef;
    readonly head?: ResolvedRef;
    readonly loss: ResolvedRef;
    readonly mixup?: ResolvedRef;
    readonly optimizer: ResolvedRef;
    readonly schedule?: ResolvedRef;
    readonly evaluator: ResolvedRef;
  };
}

function splitRef(ref: ComponentRef): { name: string; options: Record<string, unknown> } {
  if (typeof ref === 'string') return { name: ref, options: {} };
  const { name, ...options } = ref;
  return { name, options };
}

/**
 * Checks a whole experiment before any work starts: its shape, then every component's existence
 * and options against the registry. All problems are reported at once in one `INVALID_CONFIG` error
 * whose message names the source and the field of each.
 */
export function validateExperiment(raw: unknown, registry: Registry, source = 'config'): Experiment {
  const parsed = experimentSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error.issues);
    throw new RecallkitError('INVALID_CONFIG', `${source}: ${problems.join('; ')}`, { source, problems });
  }
  const config = parsed.data;
  const problems: string[] = [];
  const resolveRef = (
    field: string,
    kind: ComponentKind,
    ref: ComponentRef | undefined,
  ): ResolvedRef | undefined => {
    if (ref === undefined) return undefined;
    const { name, options } = splitRef(ref);
    try {
      const component = registry.get(`${kind}:${name}`);
      return {
        id: component.id,
        options: registry.validate(component.id, options) as Record<string, unknown>,
      };
    } catch (error) {
      problems.push(`${field}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };
  const components = {
    backend: resolveRef('backend', 'backend', config.backend),
    dataset: resolveRef('dataset', 'dataset', config.dataset),
    sampler: resolveRef('sampler', 'sampler', config.sampler),
    backbone: resolveRef('model.backbone', 'backbone', config.model.backbone),
    head: resolveRef('model.head', 'head', config.model.head),
    loss: resolveRef('loss', 'loss', config.loss),
    mixup: resolveRef('mixup', 'mixup', config.mixup),
    optimizer: resolveRef('optimizer', 'optimizer', config.optimizer),
    schedule: resolveRef('schedule', 'schedule', config.schedule),
    evaluator: resolveRef('evaluator', 'evaluator', config.evaluator),
  };
  if (problems.length) {
    throw new RecallkitError('INVALID_CONFIG', `${source}: ${problems.join('; ')}`, { source, problems });
  }
  return {
    name: config.name,
    ...(config.description === undefined ? {} : { description: config.description }),
    plugins: config.plugins,
    seeds: config.seeds,
    train: config.train,
    components: components as Experiment['components'],
  };
}
