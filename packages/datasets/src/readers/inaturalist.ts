import { join } from 'node:path';
import { remapLabels } from '../dataset';
import { ImageDataset } from '../image-dataset';
import type { RootOptions } from './cub';
import { lineError, readLines, requirePath } from './layout';

const LAYOUT = `  <root>/Inat_dataset_splits/Inaturalist_train_set1.txt   one image path per line, relative to <root>,
  <root>/Inat_dataset_splits/Inaturalist_test_set1.txt    e.g. train_val2018/Aves/2761/<file>.jpg
  <root>/train_val2018/<super-category>/<category id>/<file>.jpg ...
  (the class-disjoint split of Brown et al., Smooth-AP; the class is <super-category>/<category id>)`;

/**
 * iNaturalist 2018 with the class-disjoint split of Brown et al. (the split files used by Smooth-AP
 * and the RS@k paper). The class of an image is its path's two parent folders.
 */
export function inaturalist2018(options: RootOptions & { splitDir?: string }): {
  train: ImageDataset;
  test: ImageDataset;
} {
  const { root } = options;
  requirePath(root, 'iNaturalist 2018', LAYOUT, 'folder');
  const read = (file: string, name: string) => {
    const list = join(root, options.splitDir ?? 'Inat_dataset_splits', file);
    requirePath(list, 'iNaturalist 2018', LAYOUT);
    const files: string[] = [];
    const classes: string[] = [];
    for (const { line, text } of readLines(list)) {
      const parts = text.split('/');
      if (parts.length < 3 || parts.some((p) => p === '')) {
        throw lineError(
          'INVALID_DATASET_LIST',
          list,
          line,
          `expected "<...>/<super-category>/<category>/<file>", got '${text}'`,
        );
      }
      classes.push(`${parts[parts.length - 3]}/${parts[parts.length - 2]}`);
      files.push(join(root, text));
    }
    // Labels in order of first appearance, as the authors' code builds its class dictionary.
    const { labels, classIds } = remapLabels(classes, [...new Set(classes)]);
    return new ImageDataset(name, files, labels, classIds, options);
  };
  return {
    train: read('Inaturalist_train_set1.txt', 'inaturalist2018-train'),
    test: read('Inaturalist_test_set1.txt', 'inaturalist2018-test'),
  };
}
