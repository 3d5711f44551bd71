import { join } from 'node:path';
import { remapLabels } from '../dataset';
import { ImageDataset, type ImageDatasetOptions } from '../image-dataset';
import { checkRange, intField, lineError, readLines, requirePath } from './layout';

const LAYOUT = `  <root>/images.txt                  "<image_id> <class folder>/<file>.jpg" per line
  <root>/images/001.Black_footed_Albatross/<file>.jpg ... (class number = folder prefix, 1-200)`;

export interface RootOptions extends ImageDatasetOptions {
  /** Folder of the dataset, in its official layout. */
  root: string;
}

/**
 * CUB-200-2011 with the standard metric-learning split: classes 1-100 train, 101-200 test (the
 * class is the number prefix of the image's folder, as in the RS@k authors' code).
 */
export function cub200(options: RootOptions): { train: ImageDataset; test: ImageDataset } {
  const { root } = options;
  const list = join(root, 'images.txt');
  requirePath(root, 'CUB-200-2011', LAYOUT, 'folder');
  requirePath(list, 'CUB-200-2011', LAYOUT);
  requirePath(join(root, 'images'), 'CUB-200-2011', LAYOUT, 'folder');
  const split = {
    train: { files: [] as string[], classes: [] as number[] },
    test: { files: [] as string[], classes: [] as number[] },
  };
  for (const { line, text } of readLines(list)) {
    const [, path] = text.split(/\s+/);
    const prefix = path?.split('/')[0]?.split('.')[0];
    if (!path || !prefix)
      throw lineError(
        'INVALID_DATASET_LIST',
        list,
        line,
        `expected "<id> <class folder>/<file>", got '${text}'`,
      );
    const cls = intField(prefix, 'class number (folder prefix)', list, line);
    checkRange(cls, 1, 200, 'class', list, line);
    const part = cls <= 100 ? split.train : split.test;
    part.files.push(join(root, 'images', path));
    part.classes.push(cls);
  }
  const make = (name: string, part: { files: string[]; classes: number[] }) => {
    const { labels, classIds } = remapLabels(part.classes);
    return new ImageDataset(name, part.files, labels, classIds, options);
  };
  return { train: make('cub200-train', split.train), test: make('cub200-test', split.test) };
}
