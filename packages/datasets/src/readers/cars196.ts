import { join } from 'node:path';
import { RecallkitError } from '@recallkit/core';
import { remapLabels } from '../dataset';
import { ImageDataset } from '../image-dataset';
import { type MatValue, readMat } from '../mat';
import type { RootOptions } from './cub';
import { requirePath } from './layout';

const LAYOUT = `  <root>/cars_annos.mat     MATLAB level-5 file: struct array 'annotations' with fields
                            relative_im_path, class (1-196), test, bbox_*
  <root>/car_ims/000001.jpg ...`;

function scalar(v: MatValue | undefined): number | undefined {
  return v?.kind === 'numeric' && v.data.length === 1 ? Number(v.data[0]) : undefined;
}

/** Cars196 (Stanford Cars) from cars_annos.mat with the standard split: classes 1-98 train, 99-196 test. */
export function cars196(options: RootOptions): { train: ImageDataset; test: ImageDataset } {
  const { root } = options;
  const file = join(root, 'cars_annos.mat');
  requirePath(root, 'Cars196', LAYOUT, 'folder');
  requirePath(file, 'Cars196', LAYOUT);
  const annotations = readMat(file)['annotations'];
  if (
    annotations?.kind !== 'struct' ||
    !['relative_im_path', 'class'].every((f) => annotations.fields.includes(f))
  ) {
    throw new RecallkitError(
      'INVALID_DATASET_LIST',
      `${file}: no struct array 'annotations' with fields relative_im_path and class\nExpected layout:\n${LAYOUT}`,
    );
  }
  const split = {
    train: { files: [] as string[], classes: [] as number[] },
    test: { files: [] as string[], classes: [] as number[] },
  };
  annotations.elements.forEach((record, i) => {
    const where = `${file}: annotations(${i + 1})`;
    const path = record['relative_im_path'];
    const cls = scalar(record['class']);
    if (path?.kind !== 'char' || path.rows.length !== 1) {
      throw new RecallkitError('INVALID_DATASET_LIST', `${where}: relative_im_path is not a string`);
    }
    if (cls === undefined || !Number.isInteger(cls) || cls < 1 || cls > 196) {
      throw new RecallkitError('LABEL_OUT_OF_RANGE', `${where}: class ${cls} is outside 1..196`, {
        file,
        record: i + 1,
      });
    }
    const part = cls <= 98 ? split.train : split.test;
    part.files.push(join(root, path.rows[0]!));
    part.classes.push(cls);
  });
  const make = (name: string, part: { files: string[]; classes: number[] }) => {
    const { labels, classIds } = remapLabels(part.classes);
    return new ImageDataset(name, part.files, labels, classIds, options);
  };
  return { train: make('cars196-train', split.train), test: make('cars196-test', split.test) };
}
