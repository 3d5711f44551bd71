/** UnsortedSegmentSum (the gradient of tf.gather) as ScatterNd, which accumulates duplicate ids. wasm 4.22 has none. */
import type { KernelBackend, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { Scratch } from '../compose';
import type { KernelArgs } from '../heap';
import type { WasmKernelConfig } from '../register';

function unsortedSegmentSum({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const kb = backend as KernelBackend;
  const s = new Scratch(kb);
  const numIds = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rest = x.shape.slice(segmentIds.shape.length);
  const flatX = s.reshape(x, [numIds, ...rest]);
  let ids = s.reshape(segmentIds, [numIds, 1]);
  let updates = flatX;
  // Ids outside [0, numSegments) are dropped, as in TensorFlow (ScatterNd would write out of range).
  const idValues = kb.readSync(segmentIds.dataId) as Int32Array;
  const kept: number[] = [];
  for (let i = 0; i < idValues.length; i++) {
    const id = idValues[i] as number;
    if (id >= 0 && id < numSegments) kept.push(i);
  }
  if (kept.length < numIds) {
    const keep: TensorInfo = {
      dataId: kb.write(new Int32Array(kept), [kept.length], 'int32'),
      shape: [kept.length],
      dtype: 'int32',
    };
    const gather = (t: TensorInfo) => s.run('GatherV2', { x: t, indices: keep }, { axis: 0, batchDims: 0 });
    ids = gather(ids);
    updates = gather(flatX);
    kb.disposeData(keep.dataId);
  }
  const result = s.run('ScatterNd', { indices: ids, updates }, { shape: [numSegments, ...rest] });
  return s.finish(result);
}

export const unsortedSegmentSumConfig: WasmKernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  mode: 'add',
  kernelFunc: unsortedSegmentSum,
};
