import { mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { RecallkitError, writeFileAtomic } from '@recallkit/core';
import { createRegistry, type Registry } from '@recallkit/registry';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { runBench } from './bench';
import { registerBuiltins } from './builtins';
import { assignWeights, modelFile, readTrainedModel, saveTrainedModel } from './checkpoint';
import { experimentFromObject, readExperimentFile } from './config';
import { addExportCommand } from './export';
import { collectInfo, formatInfo } from './info';
import { applyOverrides } from './overrides';
import { runExperiment } from './pipeline';
import { benchProgress, describeMetrics, describeRun } from './progress';
import { addServeCommands } from './serve';

const RECALLKIT_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WriteStream;
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/**
 * Makes the output folder of `train`; returns whether it was created. A folder that already holds
 * a run is continued with `resume` and refused otherwise, so that no run overwrites or mixes with
 * another's log and checkpoints.
 */
async function prepareRunFolder(out: string, resume: boolean): Promise<boolean> {
  const entries = await readdir(out).catch(() => undefined);
  const holdsRun = entries?.some((e) => e === 'train.jsonl' || e === 'checkpoints' || e === 'model.ckpt');
  if (resume && !holdsRun)
    throw new RecallkitError('RESUME_NOTHING', `--resume: ${out} holds no run to continue`);
  if (!resume && holdsRun) {
    throw new RecallkitError(
      'RUN_EXISTS',
      `${out} already holds a run: continue it with --resume, or choose another --out`,
    );
  }
  await mkdir(out, { recursive: true });
  return entries === undefined;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function seedList(value: string): number[] {
  return value.split(',').map((s) => integer(s.trim()));
}

const isConfig = (path: string) => /\.(ya?ml|json)$/i.test(path);

/** Builds the `recallkit` command; `registry` defaults to a fresh one holding the built-ins. */
export function createProgram(io: Io, registry: Registry = registerBuiltins(createRegistry())): Command {
  const print = (text: string) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const program = new Command('recallkit')
    .description('Train, evaluate and compare metric-learning experiments described by YAML or JSON files.')
    .version(RECALLKIT_VERSION, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  program
    .command('train')
    .description('Train one experiment (one seed) and save the model, its metrics and the training log.')
    .argument('<config>', 'experiment file (.yaml, .yml or .json)')
    .option('--seed <n>', "seed (default: the config's first)", integer)
    .option('--epochs <n>', "override the config's train.epochs", positive)
    .option(
      '--set <field=value>',
      'override one field of the config, e.g. dataset.root=/data/sop or sampler.classesPerBatch=10 (repeatable)',
      collect,
      [],
    )
    .option('--out <dir>', 'output folder (default: runs/<name>-seed<seed>)')
    .option('--resume', 'continue the interrupted run in --out from its newest checkpoint')
    .option('--checkpoint-every <steps>', 'steps between checkpoints (default: one epoch)', positiveInt)
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress bar')
    .action(
      async (
        config: string,
        o: {
          seed?: number;
          epochs?: number;
          set: string[];
          out?: string;
          resume?: boolean;
          checkpointEvery?: number;
          json?: boolean;
          progress: boolean;
        },
      ) => {
        const raw = applyOverrides(await readExperimentFile(config), o.set);
        const baseDir = dirname(resolvePath(config));
        let experiment = await experimentFromObject(raw, registry, config, baseDir);
        if (o.epochs !== undefined)
          experiment = { ...experiment, train: { ...experiment.train, epochs: o.epochs } };
        const seed = o.seed ?? experiment.seeds[0]!;
        const out = o.out ?? join('runs', `${experiment.name}-seed${seed}`);
        const created = await prepareRunFolder(out, o.resume ?? false);
        const meta = { experiment: raw, baseDir, source: config, seed };
        const result = await runExperiment(experiment, seed, registry, {
          progress: o.progress && !o.json && io.stderr.isTTY === true,
          log: join(out, 'train.jsonl'),
          checkpointDir: join(out, 'checkpoints'),
          resume: o.resume ?? false,
          ...(o.checkpointEvery ? { checkpointEvery: o.checkpointEvery } : {}),
          onBest: (model, { step }) =>
            saveTrainedModel(join(out, 'best.ckpt'), model, { ...meta, steps: step }),
          onModel: (model, { steps }) => saveTrainedModel(join(out, 'model.ckpt'), model, { ...meta, steps }),
        }).catch(async (error: unknown) => {
          // A run that failed before its first checkpoint leaves nothing worth keeping.
          if (created && (await readdir(join(out, 'checkpoints')).catch(() => [])).length === 0)
            await rm(out, { recursive: true, force: true });
          throw error;
        });
        await writeFileAtomic(join(out, 'metrics.json'), `${JSON.stringify(result, null, 1)}\n`);
        if (o.json) print(JSON.stringify({ out, model: join(out, 'model.ckpt'), ...result }));
        else
          print(`${experiment.name} seed ${seed}: ${describeRun(result)}\nsaved ${join(out, 'model.ckpt')}`);
      },
    );

  program
    .command('eval')
    .description("Evaluate a model saved by 'train' (its folder or .ckpt), or a config's untrained network.")
    .argument('<target>', "folder or .ckpt written by 'recallkit train', or an experiment file")
    .option('--seed <n>', "initialisation seed for a config (default: the config's first)", integer)
    .option(
      '--set <field=value>',
      'override one field of the experiment, e.g. dataset.root=/data/roxford5k (repeatable)',
      collect,
      [],
    )
    .option('--out <file>', 'also write the result, as JSON, to this file (e.g. metrics.json)')
    .option('--json', 'print the metrics as JSON')
    .action(async (target: string, o: { seed?: number; set: string[]; out?: string; json?: boolean }) => {
      let result: Awaited<ReturnType<typeof runExperiment>>;
      if (isConfig(target)) {
        const experiment = await experimentFromObject(
          applyOverrides(await readExperimentFile(target), o.set),
          registry,
          target,
          dirname(resolvePath(target)),
        );
        result = await runExperiment(experiment, o.seed ?? experiment.seeds[0]!, registry, { train: false });
      } else {
        const file = await modelFile(target);
        const { meta, weights, shapes } = await readTrainedModel(file);
        const experiment = await experimentFromObject(
          applyOverrides(meta.experiment, o.set),
          registry,
          meta.source,
          meta.baseDir,
        );
        const evaluated = await runExperiment(experiment, meta.seed, registry, {
          train: false,
          name: experiment.name,
          prepareModel: (model) => assignWeights(model, weights, shapes, file),
        });
        // The weights are trained ones: say so, with the steps that trained them (older files lack them).
        result = { ...evaluated, trained: true, steps: meta.steps ?? evaluated.steps };
      }
      if (o.out) {
        await mkdir(dirname(resolvePath(o.out)), { recursive: true });
        await writeFileAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
      }
      if (o.json) print(JSON.stringify(result));
      else print(`${result.experiment} seed ${result.seed}: ${describeMetrics(result.metrics)}`);
    });

  program
    .command('bench')
    .description('Compare experiments on the same data, model and budget over several seeds; write a report.')
    .argument('<configs...>', 'experiment files')
    .option('--out <dir>', 'report folder', join('reports', 'bench'))
    .option('--seeds <list>', "comma-separated seeds (default: the first config's)", seedList)
    .option('--epochs <n>', "override every config's train.epochs", positive)
    .option('--workers <n>', 'worker processes (default: min(2, cores); 1: in this process)', positiveInt)
    .option('--no-floor', 'leave out the untrained network')
    .option('--title <text>', 'report title')
    .option('--json', 'print the summaries and report paths as JSON')
    .action(
      async (
        configs: string[],
        o: {
          out: string;
          seeds?: number[];
          epochs?: number;
          workers?: number;
          floor: boolean;
          title?: string;
          json?: boolean;
        },
      ) => {
        const progress = benchProgress(io.stderr);
        try {
          const result = await runBench(configs, registry, {
            out: o.out,
            floor: o.floor,
            onEvent: progress.onEvent,
            ...(o.seeds ? { seeds: o.seeds } : {}),
            ...(o.epochs ? { epochs: o.epochs } : {}),
            ...(o.workers !== undefined ? { workers: o.workers } : {}),
            ...(o.title ? { title: o.title } : {}),
          });
          progress.stop();
          if (o.json)
            print(
              JSON.stringify({
                summaries: result.summaries,
                paths: result.paths,
                wallSeconds: result.wallSeconds,
              }),
            );
          else print(`\n${result.table}\nreport: ${result.paths.html}`);
        } finally {
          progress.stop();
        }
      },
    );

  program
    .command('info')
    .description('Show versions, the backend, whether faiss loaded, and the registered components.')
    .option('--backend <name>', 'backend to initialise first (default: RECALLKIT_BACKEND or wasm)')
    .option('--json', 'print as JSON')
    .action(async (o: { backend?: string; json?: boolean }) => {
      await registry.resolve(`backend:${o.backend ?? process.env['RECALLKIT_BACKEND'] ?? 'wasm'}`);
      const info = collectInfo(registry);
      print(o.json ? JSON.stringify(info) : formatInfo(info));
    });

  addExportCommand(program, registry, print);
  addServeCommands(program, registry, print, io);

  return program;
}

/** Runs the command line; returns the exit code (0 success, 1 failure, with a one-line cause on stderr). */
export async function main(
  argv: readonly string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
  registry?: Registry,
): Promise<number> {
  const program = createProgram(io, registry);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof RecallkitError ? ` [${error.code}]` : '';
    io.stderr.write(`recallkit: ${message.replace(/\s*\n\s*/g, ' ')}${code}\n`);
    return 1;
  }
}
