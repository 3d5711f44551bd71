import { describe, expect, it } from 'vitest';
import { tf } from '../src';

/** Every `tf.*` value the Recallkit packages use (grep `tf\.` across packages/*\/src). */
const used = [
  'abs',
  'add',
  'addN',
  'all',
  'avgPool',
  'batchNorm',
  'cast',
  'clipByValue',
  'clone',
  'concat',
  'conv2d',
  'customGrad',
  'depthwiseConv2d',
  'dispose',
  'disposeVariables',
  'div',
  'engine',
  'env',
  'equal',
  'exp',
  'expandDims',
  'eye',
  'fill',
  'findBackendFactory',
  'gather',
  'getBackend',
  'getKernel',
  'grad',
  'grads',
  'greaterEqual',
  'input',
  'isFinite',
  'keep',
  'lessEqual',
  'loadGraphModelSync',
  'loadLayersModel',
  'logicalAnd',
  'logicalNot',
  'matMul',
  'max',
  'maxPool',
  'maximum',
  'mean',
  'memory',
  'minimum',
  'model',
  'moments',
  'mul',
  'neg',
  'norm',
  'oneHot',
  'ones',
  'pow',
  'profile',
  'randomNormal',
  'randomUniform',
  'ready',
  'reciprocal',
  'registerBackend',
  'registerKernel',
  'relu',
  'removeBackend',
  'reshape',
  'rsqrt',
  'scalar',
  'scatterND',
  'sequential',
  'setBackend',
  'sigmoid',
  'slice',
  'softmax',
  'softplus',
  'split',
  'sqrt',
  'square',
  'sub',
  'sum',
  'tensor',
  'tidy',
  'topk',
  'transpose',
  'unregisterKernel',
  'unsortedSegmentSum',
  'valueAndGrad',
  'variable',
  'variableGrads',
  'zeros',
  'zerosLike',
] as const;

const namespaces = {
  backend_util: ['computeConv2DInfo', 'computePool2DInfo'],
  initializers: ['zeros', 'ones', 'constant', 'glorotUniform', 'varianceScaling', 'truncatedNormal'],
  io: [
    'getModelArtifactsForJSON',
    'getModelArtifactsForJSONSync',
    'getModelArtifactsInfoForJSON',
    'CompositeArrayBuffer',
  ],
  layers: [
    'dense',
    'conv2d',
    'flatten',
    'reLU',
    'maxPooling2d',
    'batchNormalization',
    'add',
    'layerNormalization',
    'zeroPadding2d',
    'reshape',
    'permute',
    'globalMaxPooling2d',
    'globalAveragePooling2d',
    'dropout',
    'Layer',
  ],
  losses: ['softmaxCrossEntropy'],
  models: ['modelFromJSON'],
  serialization: ['registerClass'],
  train: ['adam', 'sgd'],
  util: ['sizeFromShape', 'parseAxisParam'],
} as const;

describe('tf', () => {
  it('has every function the packages call', () => {
    const missing = used.filter((name) => typeof (tf as Record<string, unknown>)[name] !== 'function');
    expect(missing).toEqual([]);
  });

  it('has the namespaces the packages use, with their members', () => {
    for (const [ns, members] of Object.entries(namespaces)) {
      const object = (tf as Record<string, unknown>)[ns] as Record<string, unknown>;
      expect(object, ns).toBeDefined();
      expect(
        members.filter((m) => object[m] === undefined),
        ns,
      ).toEqual([]);
    }
  });

  it('has the classes the packages use', () => {
    for (const name of [
      'Tensor',
      'Variable',
      'LayersModel',
      'SymbolicTensor',
      'LayerVariable',
      'GraphModel',
      'Optimizer',
    ]) {
      expect(typeof (tf as Record<string, unknown>)[name], name).toBe('function');
    }
    // Kernel names used with registerKernel/getKernel.
    expect([
      tf.Conv2D,
      tf.MaxPoolGrad,
      tf.Sum,
      tf.Cast,
      tf.Identity,
      tf._FusedMatMul,
      tf.BatchMatMul,
    ]).not.toContain(undefined);
  });

  it('reports the tfjs release and each part', () => {
    expect(tf.version.tfjs).toMatch(/^\d+\.\d+\.\d+$/);
    for (const part of [
      'tfjs-core',
      'tfjs-backend-cpu',
      'tfjs-backend-wasm',
      'tfjs-layers',
      'tfjs-converter',
    ] as const) {
      expect(tf.version[part]).toBe(tf.version.tfjs);
    }
  });

  it('registers gradients and chained ops (tfjs-core alone does neither under Node.js)', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor1d([1, 2, 3]);
    const dx = tf.grad((a: tf.Tensor) => a.square().sum())(x);
    expect(Array.from(dx.dataSync())).toEqual([2, 4, 6]);
    const w = tf.ones([2, 2, 1, 1]);
    const dw = tf.grad((f) =>
      tf.conv2d(tf.ones<tf.Rank.R4>([1, 3, 3, 1]), f as tf.Tensor4D, 1, 'valid').sum(),
    )(w);
    expect(Array.from(dw.dataSync())).toEqual([4, 4, 4, 4]);
    tf.dispose([x, dx, w, dw]);
  });
});
