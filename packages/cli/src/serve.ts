/**
 * Serving a trained embedding: `recallkit index` embeds images with a model written by
 * `recallkit export` and saves a search index of them (`@recallkit/evaluator`'s createIndex);
 * `recallkit query` embeds query images with the same model and prints their nearest ids.
 *
 * Images go through the datasets' evaluation pipeline (Resize + CenterCrop, then normalisation)
 * with the settings the export records, which are those of the data the model was trained on.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { RecallkitError, tf } from '@recallkit/core';
import {
  type BadImage,
  IMAGE_FOLDER_EXTENSIONS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  ImageDataset,
} from '@recallkit/datasets';
import { createIndex, type IndexId, loadIndex, type SearchIndex } from '@recallkit/evaluator';
import { loadModel } from '@recallkit/models';
import type { Registry } from '@recallkit/registry';
import { type Command, InvalidArgumentError } from 'commander';
import { experimentFromObject, readExperimentFile } from './config';
import type { Io } from './program';
import { imageProgress } from './progress';
import type { Dataset, DatasetSplits } from './types';

/**
 * The evaluation transform of the datasets' image pipeline: the shorter side resized to `resize`,
 * the centre `size` x `size` crop, then (x / 255 - mean) / std per RGB channel.
 */
export interface ImagePreprocessing {
  readonly size: number;
  readonly resize: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** The image datasets' default for a network of input side `size`: Resize(size x 256 / 224), ImageNet statistics. */
export function defaultPreprocessing(size: number): ImagePreprocessing {
  return { size, resize: Math.round((size * 256) / 224), mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] };
}

/**
 * What the test split of a training dataset was read with, when it went through the image pipeline
 * (image-folder and the paper's datasets), for the export to record; undefined for other data
 * (MNIST, emoji, plugins' pixel datasets), whose preprocessing is their own.
 */
export function preprocessingOf(
  data: DatasetSplits,
  datasetOptions: Readonly<Record<string, unknown>>,
  inputShape: readonly number[],
): ImagePreprocessing | undefined {
  const [size, width, channels] = inputShape;
  if (!(data.test instanceof ImageDataset) || size === undefined || size !== width || channels !== 3)
    return undefined;
  const resize = datasetOptions['resize'];
  return { ...defaultPreprocessing(size), ...(typeof resize === 'number' ? { resize } : {}) };
}

function isPreprocessing(value: unknown): value is ImagePreprocessing {
  const v = value as Partial<ImagePreprocessing> | null | undefined;
  const triple = (t: unknown) => Array.isArray(t) && t.length === 3 && t.every((x) => typeof x === 'number');
  return (
    typeof v === 'object' &&
    v !== null &&
    Number.isInteger(v.size) &&
    Number.isInteger(v.resize) &&
    triple(v.mean) &&
    triple(v.std)
  );
}

/** A model written by `recallkit export`, loaded, with what it takes and gives. */
export interface ExportedModel {
  readonly dir: string;
  readonly model: tf.LayersModel;
  /** [size, size, 3]. */
  readonly inputShape: number[];
  readonly embeddingDim: number;
  readonly preprocessing: ImagePreprocessing;
  /** False when the export records no preprocessing (its data were not images): the default is used. */
  readonly recorded: boolean;
  /** model.json's `userDefinedMetadata.recallkit`, when present. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** Loads an export folder, refusing a missing one and a network that does not map RGB images to vectors. */
export async function openExport(dir: string): Promise<ExportedModel> {
  const file = join(dir, 'model.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new RecallkitError(
      'EXPORT_MISSING',
      `${dir}: no exported model there (model.json): write one with 'recallkit export <run>'`,
      { path: dir },
    );
  }
  let metadata: Record<string, unknown> | undefined;
  try {
    metadata = (JSON.parse(text) as { userDefinedMetadata?: { recallkit?: Record<string, unknown> } })
      .userDefinedMetadata?.recallkit;
  } catch (error) {
    throw new RecallkitError('INVALID_EXPORT', `${file}: not valid JSON: ${(error as Error).message}`);
  }
  let model: tf.LayersModel;
  try {
    model = await loadModel(dir);
  } catch (error) {
    if (error instanceof RecallkitError) throw error;
    throw new RecallkitError('INVALID_EXPORT', `${dir}: cannot load the model: ${(error as Error).message}`);
  }
  const input = model.inputs[0]?.shape.slice(1) ?? [];
  const output = model.outputs[0]?.shape ?? [];
  const [size, width, channels] = input;
  if (model.inputs.length !== 1 || input.length !== 3 || size == null || size !== width || channels !== 3) {
    model.dispose();
    throw new RecallkitError(
      'EXPORT_INPUT',
      `${dir}: the network takes [${input.map((d) => d ?? 'any').join(', ')}] inputs; index and query read RGB images into [size, size, 3]`,
    );
  }
  if (model.outputs.length !== 1 || output.length !== 2 || !output[1]) {
    model.dispose();
    throw new RecallkitError(
      'EXPORT_NOT_EMBEDDING',
      `${dir}: the network outputs [${output.map((d) => d ?? 'batch').join(', ')}], not one batch x dim embedding`,
    );
  }
  const stored = metadata?.['preprocessing'];
  const recorded = isPreprocessing(stored) && stored.size === size;
  return {
    dir,
    model,
    inputShape: [size, size, 3],
    embeddingDim: output[1],
    preprocessing: recorded ? stored : defaultPreprocessing(size),
    recorded,
    ...(metadata ? { metadata } : {}),
  };
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every image under `folder`, at any depth (the image-folder extensions; names starting with '.'
 * ignored), sorted, with its path relative to `folder` ('/'-separated) as its id.
 */
export async function imagesInFolder(folder: string): Promise<{ files: string[]; ids: string[] }> {
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new RecallkitError('IMAGES_MISSING', `${folder}: no such folder of images`, { path: folder });
  }
  const ids: string[] = [];
  for (const entry of await readdir(folder, { recursive: true })) {
    const id = entry.split(sep).join('/');
    if (id.split('/').some((part) => part.startsWith('.'))) continue;
    if (!IMAGE_FOLDER_EXTENSIONS.some((e) => id.toLowerCase().endsWith(e))) continue;
    if (!(await stat(join(folder, entry)).catch(() => undefined))?.isFile()) continue;
    ids.push(id);
  }
  if (ids.length === 0) {
    throw new RecallkitError(
      'IMAGES_MISSING',
      `${folder}: no ${IMAGE_FOLDER_EXTENSIONS.join('/')} image under it`,
      { path: folder },
    );
  }
  ids.sort(byCodePoint);
  return { files: ids.map((id) => join(folder, ...id.split('/'))), ids };
}

/** What `index` embeds: rows 0 .. rows - 1 of a dataset, with their ids. */
export interface IndexSource {
  readonly dataset: Dataset;
  readonly rows: number;
  readonly ids: readonly IndexId[];
  /** Where the images come from, for messages. */
  readonly description: string;
}

/** A folder of images as an index source, read with `preprocessing`. */
export async function folderSource(
  folder: string,
  preprocessing: ImagePreprocessing,
  options: { onBadImage?: 'skip' | 'fail'; onWarning?: (message: string) => void } = {},
): Promise<IndexSource> {
  const { files, ids } = await imagesInFolder(folder);
  const dataset = new ImageDataset(folder, files, new Int32Array(files.length), [0], {
    onBadImage: options.onBadImage ?? 'skip',
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    pipeline: { ...preprocessing, mean: [...preprocessing.mean], std: [...preprocessing.std] },
  });
  return { dataset, rows: files.length, ids, description: folder };
}

/**
 * A dataset named in a file, as an index source: an experiment file (its `dataset`) or a dataset
 * component alone (`{ name: image-folder, root: ..., ... }`), read with its own preprocessing. The
 * split is 'test' (a test benchmark's database only), 'train', or a further test set's name; ids
 * are the image paths relative to the dataset's `root` (row numbers for data without files).
 */
export async function datasetSource(file: string, registry: Registry, split = 'test'): Promise<IndexSource> {
  const raw = (await readExperimentFile(file)) as Record<string, unknown> | null;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RecallkitError(
      'INVALID_CONFIG',
      `${file}: expected an experiment or a dataset { name, ...options }`,
    );
  }
  let ref: { id: string; options: Record<string, unknown> };
  if ('dataset' in raw) {
    ref = (await experimentFromObject(raw, registry, file, dirname(resolve(file)))).components.dataset;
  } else {
    const { name, ...options } = raw;
    if (typeof name !== 'string') {
      throw new RecallkitError(
        'INVALID_CONFIG',
        `${file}: a dataset file names its component: name: <dataset>`,
      );
    }
    const id = registry.get(`dataset:${name}`).id;
    ref = { id, options: registry.validate(id, options) as Record<string, unknown> };
  }
  const splits = (await registry.resolve(ref.id as `dataset:${string}`, ref.options, {
    seed: 0,
  })) as DatasetSplits;
  const chosen = split === 'train' ? splits.train : split === 'test' ? splits.test : splits.testSets?.[split];
  if (!chosen) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `--split ${split}: the dataset has 'train', 'test'${Object.keys(splits.testSets ?? {})
        .map((s) => `, '${s}'`)
        .join('')}`,
    );
  }
  const rows = chosen.instance ? chosen.instance.database : chosen.length;
  const holder = (chosen as { database?: unknown }).database ?? chosen;
  const files = (holder as { files?: readonly string[] }).files;
  const root = typeof ref.options['root'] === 'string' ? resolve(ref.options['root']) : undefined;
  const ids: IndexId[] = files
    ? files.slice(0, rows).map((f) => (root ? relative(root, resolve(f)).split(sep).join('/') : f))
    : Array.from({ length: rows }, (_, i) => i);
  return { dataset: chosen, rows, ids, description: `${file} (${split})` };
}

export interface BuildIndexOptions {
  /** Images embedded at once; default 64. */
  readonly batchSize?: number;
  readonly index?: 'auto' | 'faiss' | 'exact';
  /** faiss index-factory string; an index that needs training is trained on the first `trainRows` vectors. */
  readonly factory?: string;
  /** With `factory`: vectors gathered before the index is built and trained; default 100,000. */
  readonly trainRows?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Embeds the source's images batch by batch and adds each batch to the index as it comes: only the
 * index holds the vectors (and, with a factory, the first `trainRows` of them until it is trained).
 * Images that cannot be read are left out (`skipped`) when the source skips them.
 */
export async function buildIndex(
  model: tf.LayersModel,
  source: IndexSource,
  options: BuildIndexOptions = {},
): Promise<{ index: SearchIndex<IndexId>; added: number; skipped: BadImage[] }> {
  const batchSize = options.batchSize ?? 64;
  const firstRows = options.factory ? Math.max(batchSize, options.trainRows ?? 100_000) : 1;
  const createOptions = {
    ...(options.index === undefined || options.index === 'auto' ? {} : { index: options.index }),
    ...(options.factory === undefined ? {} : { factory: options.factory }),
  };
  const loader = source.dataset as Dataset & {
    loadBatch?: (
      indices: ArrayLike<number>,
    ) => Promise<{ images: tf.Tensor4D; indices: Int32Array; skipped: BadImage[] }>;
  };
  let index: SearchIndex<IndexId> | undefined;
  let pending: { data: Float32Array[]; ids: IndexId[] } = { data: [], ids: [] };
  let dim = 0;
  let added = 0;
  const skipped: BadImage[] = [];
  try {
    for (let start = 0; start < source.rows; start += batchSize) {
      const end = Math.min(source.rows, start + batchSize);
      const rows = Int32Array.from({ length: end - start }, (_, i) => start + i);
      let images: tf.Tensor4D;
      let ids: IndexId[];
      if (typeof loader.loadBatch === 'function') {
        const batch = await loader.loadBatch(rows);
        images = batch.images;
        ids = Array.from(batch.indices, (i) => source.ids[i]!);
        skipped.push(...batch.skipped);
      } else {
        images = await source.dataset.load(rows);
        ids = source.ids.slice(start, end);
      }
      let data: Float32Array | undefined;
      try {
        if (ids.length > 0) {
          const embeddings = tf.tidy(() => model.predict(images) as tf.Tensor);
          dim = embeddings.shape[1]!;
          data = (await embeddings.data()) as Float32Array;
          embeddings.dispose();
        }
      } finally {
        images.dispose();
      }
      if (data) {
        if (index) index.add(data, ids);
        else {
          pending.data.push(data);
          pending.ids.push(...ids);
        }
        added += ids.length;
      }
      if (!index && pending.ids.length > 0 && (pending.ids.length >= firstRows || end === source.rows)) {
        const all = new Float32Array(pending.ids.length * dim);
        let offset = 0;
        for (const part of pending.data) {
          all.set(part, offset);
          offset += part.length;
        }
        const ids = pending.ids;
        pending = { data: [], ids: [] };
        index = await createIndex(all, ids, { dim, ...createOptions });
      }
      options.onProgress?.(end, source.rows);
    }
  } catch (error) {
    index?.dispose();
    throw error;
  }
  if (!index) {
    throw new RecallkitError(
      'IMAGES_MISSING',
      `${source.description}: none of its ${source.rows} image(s) could be read`,
    );
  }
  return { index, added, skipped };
}

/** The k nearest ids of each query image, with their cosine similarities, best first. */
export interface QueryResult {
  readonly image: string;
  readonly ids: IndexId[];
  readonly scores: number[];
}

/** Embeds `images` with the export and searches them in the index file. */
export async function queryIndex(
  indexFile: string,
  exportDir: string,
  images: readonly string[],
  k: number,
): Promise<{ results: QueryResult[]; size: number; index: string }> {
  for (const image of images) {
    if (!(await stat(image).catch(() => undefined))?.isFile()) {
      throw new RecallkitError('IMAGE_MISSING', `${image}: no such image file`, { path: image });
    }
  }
  const index = await loadIndex<IndexId>(indexFile);
  let exported: ExportedModel | undefined;
  try {
    exported = await openExport(exportDir);
    if (exported.embeddingDim !== index.dim) {
      throw new RecallkitError(
        'INDEX_MISMATCH',
        `${indexFile} holds ${index.dim}-d vectors, but ${exportDir} embeds into ${exported.embeddingDim}-d: query with the export that built the index`,
      );
    }
    const { preprocessing } = exported;
    const dataset = new ImageDataset('query images', images, new Int32Array(images.length), [0], {
      onBadImage: 'fail',
      pipeline: { ...preprocessing, mean: [...preprocessing.mean], std: [...preprocessing.std] },
    });
    const dim = exported.embeddingDim;
    const data = new Float32Array(images.length * dim);
    for (let start = 0; start < images.length; start += 64) {
      const end = Math.min(images.length, start + 64);
      const batch = await dataset.load(Int32Array.from({ length: end - start }, (_, i) => start + i));
      const embeddings = tf.tidy(() => exported!.model.predict(batch) as tf.Tensor);
      batch.dispose();
      data.set((await embeddings.data()) as Float32Array, start * dim);
      embeddings.dispose();
    }
    const hits = await index.search(data, Math.min(k, index.size));
    return {
      results: images.map((image, i) => ({ image, ids: hits.ids[i]!, scores: hits.scores[i]! })),
      size: index.size,
      index: index.name,
    };
  } finally {
    index.dispose();
    exported?.model.dispose();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function choice<T extends string>(...values: T[]) {
  return (value: string): T => {
    if (!values.includes(value as T)) {
      throw new InvalidArgumentError(`expected ${values.map((v) => `'${v}'`).join(' or ')}`);
    }
    return value as T;
  };
}

const isConfig = (path: string) => /\.(ya?ml|json)$/i.test(path);

/** Adds `recallkit index` and `recallkit query` to the program. */
export function addServeCommands(
  program: Command,
  registry: Registry,
  print: (text: string) => void,
  io: Io,
): void {
  program
    .command('index')
    .description(
      "Embed images with a model written by 'recallkit export' and save a search index of them (one file, written atomically).",
    )
    .argument('<export>', "folder written by 'recallkit export' (model.json + weights.bin)")
    .argument(
      '<images>',
      'a folder (every .jpg/.jpeg/.png/.webp under it; ids are the paths relative to it), or a dataset or experiment file (.yaml/.json)',
    )
    .requiredOption('--out <file>', 'index file to write')
    .option('--split <name>', "with a dataset file: 'test' (default), 'train' or a further test set", 'test')
    .option(
      '--index <kind>',
      "'auto' (faiss when its addon loads, else exact), 'faiss' or 'exact'",
      choice('auto', 'faiss', 'exact'),
      'auto' as const,
    )
    .option(
      '--factory <string>',
      "faiss index factory: 'Flat' (exact, default), 'HNSW32', 'IVF1024,Flat', ...",
    )
    .option('--train-rows <n>', 'with --factory: the first n vectors train it (default 100000)', positiveInt)
    .option('--batch-size <n>', 'images embedded at once', positiveInt, 64)
    .option(
      '--on-bad-image <what>',
      "an unreadable image in a folder: 'skip' (default; named on stderr) or 'fail'",
      choice('skip', 'fail'),
      'skip' as const,
    )
    .option('--force', 'replace an existing index file')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress on stderr')
    .action(
      async (
        exportDir: string,
        images: string,
        o: {
          out: string;
          split: string;
          index: 'auto' | 'faiss' | 'exact';
          factory?: string;
          trainRows?: number;
          batchSize: number;
          onBadImage: 'skip' | 'fail';
          force?: boolean;
          json?: boolean;
          progress: boolean;
        },
      ) => {
        if (!o.force && (await stat(o.out).catch(() => undefined))) {
          throw new RecallkitError(
            'INDEX_EXISTS',
            `${o.out} exists: choose another --out, or replace it with --force`,
          );
        }
        const started = performance.now();
        const exported = await openExport(exportDir);
        try {
          const warn = (message: string) => io.stderr.write(`recallkit: ${message}\n`);
          let source: IndexSource;
          if (isConfig(images)) {
            source = await datasetSource(images, registry, o.split);
            const shape = source.dataset.sampleShape;
            if (shape.join(',') !== exported.inputShape.join(',')) {
              throw new RecallkitError(
                'INVALID_INPUT',
                `${images} gives [${shape.join(', ')}] samples, but ${exportDir} takes [${exported.inputShape.join(', ')}]: set the dataset's size`,
              );
            }
          } else {
            if (!exported.recorded) {
              warn(
                `${exportDir} records no image preprocessing (its training data were not read through the image pipeline); ` +
                  `reading images with Resize ${exported.preprocessing.resize} + CenterCrop ${exported.preprocessing.size} and ImageNet statistics`,
              );
            }
            source = await folderSource(images, exported.preprocessing, {
              onBadImage: o.onBadImage,
              onWarning: warn,
            });
          }
          const progress = o.progress ? imageProgress(io.stderr, source.rows, 'indexing') : undefined;
          let built: Awaited<ReturnType<typeof buildIndex>>;
          try {
            built = await buildIndex(exported.model, source, {
              batchSize: o.batchSize,
              index: o.index,
              ...(o.factory === undefined ? {} : { factory: o.factory }),
              ...(o.trainRows === undefined ? {} : { trainRows: o.trainRows }),
              ...(progress ? { onProgress: (done: number) => progress.update(done) } : {}),
            });
          } finally {
            progress?.stop();
          }
          const { index, added, skipped } = built;
          try {
            await mkdir(dirname(resolve(o.out)), { recursive: true });
            await index.save(o.out);
          } finally {
            index.dispose();
          }
          const result = {
            out: o.out,
            export: exportDir,
            source: source.description,
            images: added,
            skipped: skipped.map(({ path, reason }) => ({ path, reason })),
            dim: index.dim,
            index: index.name,
            seconds: (performance.now() - started) / 1000,
          };
          if (o.json) print(JSON.stringify(result));
          else
            print(
              `indexed ${added} image(s) of ${source.description}${skipped.length ? ` (${skipped.length} unreadable, left out)` : ''} ` +
                `into ${o.out}: ${index.dim}-d, ${index.name}`,
            );
        } finally {
          exported.model.dispose();
        }
      },
    );

  program
    .command('query')
    .description(
      'Embed images with the export that built an index, and print the k nearest ids in the index.',
    )
    .argument('<index>', "index file written by 'recallkit index'")
    .argument('<export>', "the folder written by 'recallkit export' that built the index")
    .argument('<images...>', 'query image files')
    .option('--k <n>', 'neighbours per query (at most the index size)', positiveInt, 10)
    .option('--json', 'print the results as JSON')
    .action(
      async (indexFile: string, exportDir: string, images: string[], o: { k: number; json?: boolean }) => {
        const { results, index } = await queryIndex(indexFile, exportDir, images, o.k);
        if (o.json) print(JSON.stringify({ index: indexFile, search: index, k: o.k, results }));
        else
          print(
            results
              .map(
                (r) =>
                  `${r.image}\n${r.ids
                    .map((id, j) => `  ${String(j + 1).padStart(3)}  ${r.scores[j]!.toFixed(4)}  ${id}`)
                    .join('\n')}`,
              )
              .join('\n'),
          );
      },
    );
}
