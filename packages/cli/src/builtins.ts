import { type BackendName, RecallkitError, useBackend } from '@recallkit/core';
import {
  cars196,
  cub200,
  EMOJI_VENDORS,
  emoji,
  type ImageDataset,
  imageFolder,
  inaturalist2018,
  mnistClassDisjoint,
  mPerClassSampler,
  rskSampler,
  stanfordOnlineProducts,
  vehicleId,
} from '@recallkit/datasets';
import type { OptimizerConfig } from '@recallkit/engine';
import { evaluate } from '@recallkit/evaluator';
import { contrastive, recallAtKSurrogate, smoothAP } from '@recallkit/losses';
import { simix } from '@recallkit/mixup';
import {
  loadTimmViT,
  loadTorchResNet,
  loadTrunk,
  mlp,
  resnet,
  smallCnn,
  vit,
  withEmbeddingHead,
} from '@recallkit/models';
import { type Registry, registry as sharedRegistry } from '@recallkit/registry';
import { z } from 'zod';
import { instanceEvaluator, revisitedSplits } from './instance';
import type { ScheduleConfig } from './pipeline';
import type { BatchSampler, DatasetSplits, EmbeddingLoss, Evaluator } from './types';

declare module '@recallkit/registry' {
  interface ComponentTypes {
    backend: string;
    dataset: DatasetSplits;
    sampler: BatchSampler;
    backbone: import('@recallkit/core').tf.LayersModel;
    head: import('@recallkit/core').tf.LayersModel;
    loss: EmbeddingLoss;
    mixup: EmbeddingLoss;
    optimizer: OptimizerConfig;
    schedule: ScheduleConfig;
    evaluator: Evaluator;
  }
}

const positiveInt = z.number().int().positive();
/** 'frozen-stats' (the authors'): running statistics frozen, scale and shift trained; 'frozen': all frozen. */
const batchNorm = z.enum(['train', 'frozen-stats', 'frozen']);
const seedOf = (context: { seed?: unknown }): number => (typeof context.seed === 'number' ? context.seed : 0);
const digits = z.array(z.number().int().min(0).max(9)).min(2);
const rankingOptions = {
  implementation: z.enum(['auto', 'fused', 'composite']).optional(),
  threads: positiveInt.optional(),
  normalize: z.boolean().optional(),
  memoryLimit: z.number().positive().optional(),
};

/** Registers Recallkit's own components (idempotent per registry). */
export function registerBuiltins(registry: Registry = sharedRegistry): Registry {
  if (registry.has('loss:rsk')) return registry;

  for (const name of ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const) {
    registry.register('backend', name, {
      schema: z.strictObject({}),
      create: () => useBackend(name as BackendName),
      description: `TensorFlow.js '${name}' backend`,
    });
  }
  registry.register('backend', 'auto', {
    schema: z.strictObject({}),
    create: () => useBackend(),
    description:
      'the best installed backend: tensorflow-gpu, then tensorflow, then wasm (or RECALLKIT_BACKEND)',
  });

  registry.register('dataset', 'mnist-class-disjoint', {
    schema: z.strictObject({
      trainClasses: digits.default([0, 1, 2, 3, 4]),
      testClasses: digits.default([5, 6, 7, 8, 9]),
      dir: z.string().optional(),
    }),
    create: (o) => mnistClassDisjoint(o),
    aliases: ['mnist'],
    description: 'MNIST, train on the train images of some digits, test on the t10k images of the others',
  });

  registry.register('dataset', 'emoji', {
    schema: z.strictObject({
      size: z.union([z.literal(32), z.literal(64)]).default(32),
      vendors: z.array(z.enum(EMOJI_VENDORS)).min(2).optional(),
      root: z.string().min(1).optional(),
      cacheDir: z.string().min(1).optional(),
      augmentation: z.enum(['translate', 'none']).default('translate'),
      maxShift: z.number().int().nonnegative().default(2),
    }),
    create: ({ maxShift, ...o }) => emoji({ ...o, translate: { maxShift } }),
    description:
      'cross-vendor emoji retrieval: one class per emoji, its Apple, Google, Twitter and Facebook drawings the instances (npm emoji-datasource-*)',
  });

  // The paper's benchmarks, read from their official layouts under `root` (users download them).
  const imageOptions = {
    root: z.string().min(1),
    onBadImage: z.enum(['skip', 'fail']).default('skip'),
    concurrency: positiveInt.optional(),
    /** Decode every image once before training, so that unreadable ones are left out (or fail). */
    checkImages: z.boolean().default(true),
  };
  /** The splits with their unreadable images left out (`ImageDataset.withoutBadImages`), when asked. */
  const checked = async <S extends { train: ImageDataset; test: ImageDataset }>(
    splits: S,
    checkImages: boolean,
  ): Promise<S> =>
    checkImages
      ? {
          ...splits,
          train: await splits.train.withoutBadImages(),
          test: await splits.test.withoutBadImages(),
        }
      : splits;
  registry.register('dataset', 'sop', {
    schema: z.strictObject(imageOptions),
    create: ({ checkImages, ...o }) => checked(stanfordOnlineProducts(o), checkImages),
    aliases: ['stanford-online-products'],
    description: 'Stanford Online Products (Ebay_train.txt / Ebay_test.txt)',
  });
  registry.register('dataset', 'inaturalist', {
    schema: z.strictObject({ ...imageOptions, splitDir: z.string().optional() }),
    create: ({ checkImages, ...o }) => checked(inaturalist2018(o), checkImages),
    aliases: ['inaturalist2018'],
    description: 'iNaturalist 2018 with the Smooth-AP class split',
  });
  registry.register('dataset', 'cub', {
    schema: z.strictObject(imageOptions),
    create: ({ checkImages, ...o }) => checked(cub200(o), checkImages),
    aliases: ['cub200', 'cub-200-2011'],
    description: 'CUB-200-2011, classes 1-100 train, 101-200 test',
  });
  registry.register('dataset', 'cars196', {
    schema: z.strictObject(imageOptions),
    create: ({ checkImages, ...o }) => checked(cars196(o), checkImages),
    aliases: ['cars'],
    description: 'Stanford Cars, classes 1-98 train, 99-196 test',
  });
  registry.register('dataset', 'image-folder', {
    schema: z.strictObject({
      ...imageOptions,
      split: z.enum(['folders', 'classes']).optional(),
      trainFolder: z.string().min(1).optional(),
      testFolder: z.string().min(1).optional(),
      trainClasses: z.array(z.string().min(1)).min(1).optional(),
      testClasses: z.array(z.string().min(1)).min(1).optional(),
      trainFraction: z.number().gt(0).lt(1).optional(),
      size: positiveInt.optional(),
      resize: positiveInt.optional(),
    }),
    // A size without a resize keeps the default's ratio (224 crop of 256).
    create: ({ size, resize, ...o }) =>
      imageFolder({
        ...o,
        pipeline: {
          ...(size ? { size } : {}),
          ...(resize || size ? { resize: resize ?? Math.round(((size ?? 224) * 256) / 224) } : {}),
        },
      }),
    aliases: ['imagefolder'],
    description:
      'your own images, one class per folder: <root>/train/<class> and <root>/test/<class>, or one root split by trainClasses / testClasses / trainFraction',
  });
  registry.register('dataset', 'vehicle-id', {
    schema: z.strictObject({
      ...imageOptions,
      /** One test list, or 'all': small (800) as the test set, medium and large as further ones. */
      testSize: z.union([z.literal(800), z.literal(1600), z.literal(2400), z.literal('all')]).default('all'),
    }),
    create: async ({ testSize, checkImages, ...o }) => {
      if (testSize !== 'all') return checked(vehicleId({ ...o, testSize }), checkImages);
      const small = await checked(vehicleId({ ...o, testSize: 800 }), checkImages);
      // Only the further test lists are checked: their training split is the one checked above.
      const further = async (size: 1600 | 2400) => {
        const { test } = vehicleId({ ...o, testSize: size });
        return checkImages ? test.withoutBadImages() : test;
      };
      return { ...small, testSets: { medium: await further(1600), large: await further(2400) } };
    },
    aliases: ['vehicleid'],
    description:
      'PKU VehicleID: the small (800) test list, and with testSize all the medium and large ones too',
  });

  // Test benchmarks of instance-level retrieval (no training split): evaluate a trained model on them.
  for (const [name, aliases, title] of [
    ['roxford5k', ['revisited-oxford', 'roxford'], 'Revisited Oxford 5k'],
    ['rparis6k', ['revisited-paris', 'rparis'], 'Revisited Paris 6k'],
  ] as const) {
    registry.register('dataset', name, {
      schema: z.strictObject({
        /** Folder holding gnd_<name>.pkl (or .json) and jpg/, as revisitop's download leaves it. */
        root: z.string().min(1),
        size: positiveInt.default(224),
        resize: positiveInt.optional(),
        onBadImage: z.enum(['skip', 'fail']).default('fail'),
        concurrency: positiveInt.optional(),
      }),
      create: (o) => revisitedSplits(name, o),
      aliases: [...aliases],
      description: `${title} (<root>/gnd_${name}.pkl + jpg/): the database, then the queries cropped to their boxes; a test set only, for evaluator 'instance'`,
    });
  }

  const classBalanced = z.strictObject({ classesPerBatch: positiveInt, samplesPerClass: positiveInt });
  registry.register('sampler', 'rsk', {
    schema: classBalanced,
    create: (o, c: { labels: Int32Array; seed?: number }) =>
      rskSampler({ ...o, labels: c.labels, seed: seedOf(c) }),
    description: "the RS@k authors' sampler: C classes x m images, each image once per epoch",
  });
  registry.register('sampler', 'm-per-class', {
    schema: classBalanced.extend({ lengthBeforeNewIter: positiveInt.optional() }),
    create: (o, c: { labels: Int32Array; seed?: number }) =>
      mPerClassSampler({ ...o, labels: c.labels, seed: seedOf(c) }),
    description: 'pytorch-metric-learning style m-per-class sampler',
  });

  const shape3 = z.tuple([positiveInt, positiveInt, positiveInt]);
  registry.register('backbone', 'small-cnn', {
    schema: z.strictObject({ embeddingDim: positiveInt.default(128) }),
    create: (o, c: { inputShape?: number[]; seed?: number }) =>
      smallCnn({
        ...o,
        seed: seedOf(c),
        ...(c.inputShape ? { inputShape: shape3.parse(c.inputShape) } : {}),
      }),
    aliases: ['smallCnn'],
    description: 'conv3x3-32, conv3x3-64, dense, L2 norm (the MNIST peer network)',
  });
  registry.register('backbone', 'mlp', {
    schema: z.strictObject({
      hidden: z.array(positiveInt).default([256]),
      embeddingDim: positiveInt.default(128),
      activation: z.enum(['relu', 'gelu', 'tanh', 'elu']).default('relu'),
    }),
    create: (o, c: { inputShape?: number[]; seed?: number }) =>
      mlp({ ...o, seed: seedOf(c), ...(c.inputShape ? { inputShape: c.inputShape } : {}) }),
  });

  registry.register('backbone', 'torch-resnet', {
    schema: z.strictObject({ file: z.string().min(1), batchNorm: batchNorm.default('frozen-stats') }),
    create: ({ file, batchNorm }, c: { inputShape?: number[] }) =>
      loadTorchResNet(file, {
        batchNorm,
        head: false,
        ...(c.inputShape ? { inputShape: shape3.parse(c.inputShape) } : {}),
      }),
    description:
      'a torchvision / timm ResNet from its .safetensors state dict (e.g. ImageNet ResNet-50), without its classifier',
  });
  registry.register('backbone', 'timm-vit', {
    schema: z.strictObject({
      file: z.string().min(1),
      /** Not in a state dict; default width / 64 (12 for ViT-B). */
      numHeads: positiveInt.optional(),
      resizePosEmbed: z
        .union([z.enum(['bicubic-antialias', 'bicubic', 'bilinear']), z.literal(false)])
        .default('bicubic-antialias'),
    }),
    create: ({ file, numHeads, resizePosEmbed }, c: { inputShape?: number[] }) =>
      loadTimmViT(file, {
        resizePosEmbed,
        head: false,
        ...(numHeads ? { numHeads } : {}),
        ...(c.inputShape ? { inputShape: shape3.parse(c.inputShape) } : {}),
      }),
    aliases: ['vit-timm'],
    description:
      'a timm Vision Transformer (e.g. ViT-B/16) from its .safetensors state dict, without its classifier; outputs the class token',
  });
  registry.register('backbone', 'vit', {
    schema: z.strictObject({
      preset: z.enum(['B/16', 'B/32']).default('B/16'),
      patchSize: positiveInt.optional(),
      width: positiveInt.optional(),
      depth: positiveInt.optional(),
      numHeads: positiveInt.optional(),
      mlpDim: positiveInt.optional(),
    }),
    create: (o, c: { inputShape?: number[]; seed?: number }) =>
      vit({
        ...o,
        head: false,
        seed: seedOf(c),
        ...(c.inputShape ? { inputShape: shape3.parse(c.inputShape) } : {}),
      }),
    description:
      'a ViT trunk trained from scratch (B/16, B/32 or any size; no head: add model.head); outputs the class token',
  });
  registry.register('backbone', 'trunk', {
    schema: z.strictObject({
      dir: z.string().min(1),
      outputLayer: z.string().optional(),
      batchNorm: batchNorm.default('frozen-stats'),
      trainable: z.boolean().default(true),
    }),
    create: ({ dir, ...o }) => loadTrunk(dir, o),
    description: 'a pretrained TF.js model directory (model.json + shards)',
  });
  registry.register('backbone', 'resnet', {
    schema: z.strictObject({
      depth: z
        .union([z.literal(18), z.literal(34), z.literal(50), z.literal(101), z.literal(152)])
        .default(18),
      stem: z.enum(['imagenet', 'small']).default('imagenet'),
      batchNorm: batchNorm.default('train'),
    }),
    create: (o, c: { inputShape?: number[]; seed?: number }) =>
      resnet({
        ...o,
        head: false,
        seed: seedOf(c),
        ...(c.inputShape ? { inputShape: shape3.parse(c.inputShape) } : {}),
      }),
    description: 'a ResNet trunk trained from scratch (no head: add model.head)',
  });

  registry.register('head', 'embedding-head', {
    schema: z.strictObject({
      embeddingDim: positiveInt.default(512),
      pooling: z.enum(['gem', 'avg', 'max', 'cls', 'none']).optional(),
      p: z.number().positive().default(3),
      trainableP: z.boolean().default(true),
      layerNorm: z.boolean().default(true),
    }),
    create: (o, c: { trunk: import('@recallkit/core').tf.LayersModel; seed?: number }) =>
      withEmbeddingHead(c.trunk, { ...o, seed: seedOf(c) }),
    description: "the paper's head: GeM pooling, LayerNorm, linear, L2 norm",
  });

  // The losses' and SiMix's options are validated here and defaulted by their packages (one place).
  registry.register('loss', 'rsk', {
    schema: z.strictObject({
      k: z.array(positiveInt).min(1).optional(),
      tauRank: z.number().positive().optional(),
      tauK: z.union([z.number().positive(), z.array(z.number().positive())]).optional(),
      includeQueryInRank: z.boolean().optional(),
      ...rankingOptions,
    }),
    create: (o) => recallAtKSurrogate(o),
    aliases: ['recall-at-k', 'recallatk'],
    description: 'Recall@k surrogate (Patel et al., CVPR 2022)',
  });
  registry.register('loss', 'smoothap', {
    schema: z.strictObject({ tau: z.number().positive().optional(), ...rankingOptions }),
    create: (o) => smoothAP(o),
    aliases: ['smooth-ap'],
    description: 'Smooth-AP (Brown et al., ECCV 2020)',
  });
  registry.register('loss', 'contrastive', {
    schema: z.strictObject({
      form: z.enum(['cosine', 'pml']).optional(),
      posMargin: z.number().optional(),
      negMargin: z.number().optional(),
    }),
    create: (o) => contrastive(o),
    description:
      "contrastive loss: 'cosine' (similarity margins 0.9 / 0.6) or 'pml' (pytorch-metric-learning's: distance margins 0 / 1)",
  });

  registry.register('mixup', 'simix', {
    schema: z.strictObject({
      pairs: z.union([z.literal('all'), positiveInt]).optional(),
      crossClass: z.number().int().nonnegative().optional(),
      side: z.enum(['both', 'database']).optional(),
    }),
    create: (o, c: { loss: EmbeddingLoss; seed?: number }) =>
      simix(c.loss as Parameters<typeof simix>[0], { ...o, seed: `simix:${seedOf(c)}` }),
    description: 'similarity mixup (SiMix) on the ranking core',
  });

  const adamSchema = z.strictObject({
    lr: z.number().positive(),
    weightDecay: z.number().nonnegative().optional(),
    beta1: z.number().min(0).lt(1).optional(),
    beta2: z.number().min(0).lt(1).optional(),
    epsilon: z.number().positive().optional(),
  });
  for (const type of ['adam', 'adamw'] as const) {
    registry.register('optimizer', type, {
      schema: adamSchema,
      create: ({ lr, ...rest }): OptimizerConfig => ({ type, learningRate: lr, ...rest }),
      ...(type === 'adamw' ? { aliases: ['adamW'] } : {}),
    });
  }

  registry.register('schedule', 'step', {
    schema: z.strictObject({
      milestones: z.array(z.number().int().nonnegative()),
      gamma: z.number().positive().default(0.3),
      unit: z.enum(['epoch', 'step']).default('epoch'),
    }),
    create: (o): ScheduleConfig => o,
    aliases: ['multistep'],
    description: "multiply the learning rate by gamma at each milestone (torch's MultiStepLR)",
  });

  registry.register('evaluator', 'retrieval', {
    schema: z.strictObject({
      /** Default: the evaluator's ([1, 2, 4, 8, 16], less those larger than the gallery). */
      k: z.array(positiveInt).min(1).optional(),
      /** 'auto' (faiss when its addon loads, else exact), 'faiss', 'exact', or a faiss factory string. */
      index: z.string().min(1).default('auto'),
    }),
    create:
      ({ k, index }): Evaluator =>
      async (embeddings, labels, test) => {
        if (test?.instance) {
          throw new RecallkitError(
            'INVALID_CONFIG',
            `${test.name} is scored by the revisited protocol (queries against a database): use evaluator 'instance'`,
          );
        }
        const result = await evaluate(embeddings, labels, {
          ...(k ? { k } : {}),
          ...(index === 'auto' ? {} : { index }),
        });
        return { ...result, index: result.debug.index };
      },
    description: 'all-vs-all Recall@k and MAP@R on the test split (query removed)',
  });
  registry.register('evaluator', 'instance', {
    schema: z.strictObject({
      /** mP@k cut-offs; default revisitop's [1, 5, 10]. */
      k: z.array(positiveInt).min(1).optional(),
      /** 'auto' (faiss when its addon loads, else exact), 'faiss', 'exact', or a faiss factory string. */
      index: z.string().min(1).default('auto'),
    }),
    create: (o) => instanceEvaluator(o),
    aliases: ['revisited'],
    description:
      'instance-level retrieval (roxford5k, rparis6k): mAP and mP@1/5/10 of the Easy, Medium and Hard setups, as revisitop computes them',
  });
  return registry;
}
