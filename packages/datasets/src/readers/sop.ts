import { join } from 'node:path';
import { remapLabels } from '../dataset';
import { ImageDataset } from '../image-dataset';
import type { RootOptions } from './cub';
import { checkRange, intField, lineError, readLines, requirePath } from './layout';

const LAYOUT = `  <root>/Ebay_train.txt   header "image_id class_id super_class_id path", then one image per line
  <root>/Ebay_test.txt    (train classes 1-11318, test classes 11319-22634)
  <root>/bicycle_final/<file>.JPG ...`;

/** Stanford Online Products from Ebay_train.txt / Ebay_test.txt (classes 1-11318 train, 11319-22634 test). */
export function stanfordOnlineProducts(options: RootOptions): { train: ImageDataset; test: ImageDataset } {
  const { root } = options;
  requirePath(root, 'Stanford Online Products', LAYOUT, 'folder');
  const read = (file: string, lo: number, hi: number, name: string) => {
    const list = join(root, file);
    requirePath(list, 'Stanford Online Products', LAYOUT);
    const files: string[] = [];
    const classes: number[] = [];
    for (const { line, text } of readLines(list).slice(1)) {
      const fields = text.split(/\s+/);
      if (fields.length !== 4) {
        throw lineError(
          'INVALID_DATASET_LIST',
          list,
          line,
          `expected "image_id class_id super_class_id path", got '${text}'`,
        );
      }
      const cls = intField(fields[1], 'class_id', list, line);
      checkRange(cls, lo, hi, 'class_id', list, line);
      files.push(join(root, fields[3]!));
      classes.push(cls);
    }
    const { labels, classIds } = remapLabels(classes);
    return new ImageDataset(name, files, labels, classIds, options);
  };
  return {
    train: read('Ebay_train.txt', 1, 11318, 'sop-train'),
    test: read('Ebay_test.txt', 11319, 22634, 'sop-test'),
  };
}
