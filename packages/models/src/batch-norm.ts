import { RecallkitError } from '@recallkit/core';

/**
 * How a network's batch-norm layers behave in training:
 * - 'train': ordinary batch norm, normalising by batch statistics in training and updating the moving ones;
 * - 'frozen-stats': always the moving statistics (which never change), scale (gamma) and shift (beta)
 *   trainable: the authors' setting for the pretrained ResNet-50 (`model.eval()` batch norm with its
 *   parameters in the optimiser);
 * - 'frozen': always the moving statistics, and no parameter trainable.
 */
export type BatchNormMode = 'train' | 'frozen-stats' | 'frozen';

export const BATCH_NORM_MODES: readonly BatchNormMode[] = ['train', 'frozen-stats', 'frozen'];

/** The mode of `batchNorm`, or of the older boolean `frozenBatchNorm` (true: 'frozen', false: 'train'), or `fallback`. */
export function batchNormMode(
  options: { batchNorm?: BatchNormMode | undefined; frozenBatchNorm?: boolean | undefined },
  fallback: BatchNormMode,
  where: string,
): BatchNormMode {
  const { batchNorm, frozenBatchNorm } = options;
  if (batchNorm !== undefined && !BATCH_NORM_MODES.includes(batchNorm)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${where}: batchNorm must be one of ${BATCH_NORM_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(batchNorm)}`,
    );
  }
  if (frozenBatchNorm === undefined) return batchNorm ?? fallback;
  const implied: BatchNormMode = frozenBatchNorm ? 'frozen' : 'train';
  if (batchNorm !== undefined && batchNorm !== implied) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${where}: frozenBatchNorm: ${frozenBatchNorm} contradicts batchNorm: '${batchNorm}' (give batchNorm only)`,
    );
  }
  return implied;
}
