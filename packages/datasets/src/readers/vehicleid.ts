import { join } from 'node:path';
import { RecallkitError } from '@recallkit/core';
import { remapLabels } from '../dataset';
import { ImageDataset } from '../image-dataset';
import type { RootOptions } from './cub';
import { intField, lineError, readLines, requirePath } from './layout';

const LAYOUT = `  <root>/train_test_split/train_list.txt       "<image name> <vehicle id>" per line, e.g. "0001234 56"
  <root>/train_test_split/test_list_800.txt    (and test_list_1600.txt, test_list_2400.txt)
  <root>/image/0001234.jpg ...`;

/** VehicleID: train on train_list.txt, test on the small (800), medium (1600) or large (2400) test list. */
export function vehicleId(options: RootOptions & { testSize?: 800 | 1600 | 2400 }): {
  train: ImageDataset;
  test: ImageDataset;
} {
  const { root } = options;
  const testSize = options.testSize ?? 800;
  if (![800, 1600, 2400].includes(testSize)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `VehicleID: testSize must be 800, 1600 or 2400, got ${testSize}`,
    );
  }
  requirePath(root, 'VehicleID', LAYOUT, 'folder');
  const read = (file: string, name: string) => {
    const list = join(root, 'train_test_split', file);
    requirePath(list, 'VehicleID', LAYOUT);
    const files: string[] = [];
    const ids: number[] = [];
    for (const { line, text } of readLines(list)) {
      const [image, vehicle, ...rest] = text.split(/\s+/);
      if (!image || rest.length > 0 || !/^\d+$/.test(image)) {
        throw lineError(
          'INVALID_DATASET_LIST',
          list,
          line,
          `expected "<image name> <vehicle id>", got '${text}'`,
        );
      }
      const id = intField(vehicle, 'vehicle id', list, line);
      if (id < 0) throw lineError('LABEL_OUT_OF_RANGE', list, line, `vehicle id ${id} is negative`);
      // Image names are zero-padded to 7 digits, as in the dataset ('{:07d}.jpg').
      files.push(join(root, 'image', `${image.padStart(7, '0')}.jpg`));
      ids.push(id);
    }
    const { labels, classIds } = remapLabels(ids);
    return new ImageDataset(name, files, labels, classIds, options);
  };
  return {
    train: read('train_list.txt', 'vehicleid-train'),
    test: read(`test_list_${testSize}.txt`, `vehicleid-test${testSize}`),
  };
}
