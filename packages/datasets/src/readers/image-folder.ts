import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { RecallkitError } from '@recallkit/core';
import { type CheckImagesOptions, ImageDataset, type ImageDatasetOptions } from '../image-dataset';
import { requirePath } from './layout';

/** File extensions read as images (case-insensitive): what sharp decodes among the usual ones. */
export const IMAGE_FOLDER_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

const LAYOUT = `  split 'classes':  <root>/<class>/<image>.jpg ...   (one folder per class)
  split 'folders':  <root>/train/<class>/<image>.jpg ...
                    <root>/test/<class>/<image>.jpg ...
  images: ${IMAGE_FOLDER_EXTENSIONS.join(' ')} (any depth inside a class folder); names starting with '.' are ignored`;

export interface ImageFolderOptions extends ImageDatasetOptions {
  /** Folder holding one folder per class (split 'classes'), or the train and test folders (split 'folders'). */
  root: string;
  /**
   * 'folders': `<root>/<trainFolder>/<class>/...` train, `<root>/<testFolder>/<class>/...` test;
   * 'classes': the class folders of `root` split by `trainClasses` / `testClasses` or `trainFraction`.
   * Default: 'folders' when `<root>/<trainFolder>` and `<root>/<testFolder>` exist and no class
   * list or fraction is given, else 'classes'.
   */
  split?: 'folders' | 'classes';
  /** Split 'folders': the training folder under root; default 'train'. */
  trainFolder?: string;
  /** Split 'folders': the test folder under root; default 'test'. */
  testFolder?: string;
  /** Split 'classes': folder names of the training classes; without `testClasses`, every other class is test. */
  trainClasses?: readonly string[];
  /** Split 'classes': folder names of the test classes; without `trainClasses`, every other class trains. */
  testClasses?: readonly string[];
  /**
   * Split 'classes' without lists: the first round(trainFraction x classes) class folders in sorted
   * order train, the rest test (the CUB / Cars196 convention); default 0.5.
   */
  trainFraction?: number;
  /**
   * Decode every image once while building, and leave the bad ones out (`dataset.skipped`) or,
   * with `onBadImage: 'fail'`, throw on the first; default true. False defers bad files to load
   * time, where 'skip' gives them all-zero rows.
   */
  checkImages?: boolean;
  /** Progress of the image check over both splits (files done, total). */
  onProgress?: CheckImagesOptions['onProgress'];
}

/** One class folder: its name and image files (absolute paths, sorted). */
interface ClassFolder {
  name: string;
  dir: string;
  files: string[];
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const isImage = (name: string) => IMAGE_FOLDER_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function optionError(message: string, details?: Record<string, unknown>): RecallkitError {
  return new RecallkitError('INVALID_OPTION', `image folder: ${message}`, details);
}

/** The visible sub-folders of `dir` (symbolic links followed), sorted. */
function subfolders(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && isDirectory(join(dir, name)))
    .sort(byCodePoint);
}

/** The image files at any depth under `dir`, sorted by path; other visible files go to `ignored`. */
function imagesUnder(dir: string, ignored: string[]): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (folder: string) => {
    const real = realpathSync(folder);
    if (seen.has(real)) return; // a link back up the tree
    seen.add(real);
    for (const name of readdirSync(folder)) {
      if (name.startsWith('.')) continue;
      const path = join(folder, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue; // a broken link
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) (isImage(name) ? found : ignored).push(path);
    }
  };
  walk(dir);
  return found.sort((a, b) => byCodePoint(relative(dir, a), relative(dir, b)));
}

/** Reads the named class folders of `parent`; a folder without any image is an error naming it. */
function readClasses(parent: string, names: readonly string[], ignored: string[]): ClassFolder[] {
  const classes = names.map((name) => {
    const dir = join(parent, name);
    return { name, dir, files: imagesUnder(dir, ignored) };
  });
  const empty = classes.filter((c) => c.files.length === 0);
  if (empty.length > 0) {
    throw new RecallkitError(
      'DATASET_EMPTY',
      `image folder: ${empty.length} class folder(s) hold no ${IMAGE_FOLDER_EXTENSIONS.join('/')} image: ${empty
        .slice(0, 10)
        .map((c) => c.dir)
        .join(', ')}${empty.length > 10 ? ', ...' : ''}\nExpected layout:\n${LAYOUT}`,
      { folders: empty.map((c) => c.dir) },
    );
  }
  return classes;
}

/** The class folders of `parent`, or an error naming it when it has none. */
function classNames(parent: string): string[] {
  const names = subfolders(parent);
  if (names.length === 0) {
    throw new RecallkitError(
      'DATASET_EMPTY',
      `image folder: no class folder in ${parent}\nExpected layout:\n${LAYOUT}`,
      { path: parent, layout: LAYOUT },
    );
  }
  return names;
}

/** Checks a class list against the folders found: known names, no repeats. */
function checkList(list: readonly string[], what: string, root: string, available: readonly string[]): void {
  const known = new Set(available);
  const missing = list.filter((c) => !known.has(c));
  if (missing.length > 0) {
    throw new RecallkitError(
      'DATASET_FILE_MISSING',
      `image folder: ${what} names ${missing.length} folder(s) not found in ${root}: ${missing
        .slice(0, 10)
        .join(
          ', ',
        )}${missing.length > 10 ? ', ...' : ''} (class folders there: ${available.slice(0, 10).join(', ')}${
        available.length > 10 ? `, ... ${available.length} in all` : ''
      })`,
      { path: root, missing },
    );
  }
  const repeated = list.filter((c, i) => list.indexOf(c) !== i);
  if (repeated.length > 0) throw optionError(`${what} names ${repeated.join(', ')} more than once`);
}

/** Splits the class folders of `root` into train and test names. */
function splitClasses(root: string, options: ImageFolderOptions): { train: string[]; test: string[] } {
  const all = classNames(root);
  const { trainClasses, testClasses } = options;
  if (trainClasses !== undefined || testClasses !== undefined) {
    if (options.trainFraction !== undefined)
      throw optionError('give trainFraction or class lists (trainClasses / testClasses), not both');
    if (trainClasses) checkList(trainClasses, 'trainClasses', root, all);
    if (testClasses) checkList(testClasses, 'testClasses', root, all);
    const train = new Set(trainClasses ?? all.filter((c) => !testClasses!.includes(c)));
    const test = new Set(testClasses ?? all.filter((c) => !train.has(c)));
    const both = [...train].filter((c) => test.has(c));
    if (both.length > 0) {
      throw optionError(`class(es) in both trainClasses and testClasses: ${both.slice(0, 10).join(', ')}`, {
        classes: both,
      });
    }
    return { train: all.filter((c) => train.has(c)), test: all.filter((c) => test.has(c)) };
  }
  const fraction = options.trainFraction ?? 0.5;
  if (!(fraction > 0 && fraction < 1)) throw optionError(`trainFraction must be in (0, 1), got ${fraction}`);
  const cut = Math.round(fraction * all.length);
  if (cut < 1 || cut >= all.length) {
    throw optionError(
      `trainFraction ${fraction} of the ${all.length} class folder(s) in ${root} leaves ${cut < 1 ? 'training' : 'test'} without a class`,
    );
  }
  return { train: all.slice(0, cut), test: all.slice(cut) };
}

function build(name: string, classes: ClassFolder[], options: ImageFolderOptions): ImageDataset {
  const files = classes.flatMap((c) => c.files);
  const labels = Int32Array.from(classes.flatMap((c, label) => c.files.map(() => label)));
  return new ImageDataset(
    name,
    files,
    labels,
    classes.map((c) => c.name),
    options,
  );
}

/**
 * A dataset of your own images, one class per folder (like torchvision's ImageFolder), split into
 * train and test by folders (`<root>/train/<class>`, `<root>/test/<class>`) or by class (lists of
 * folder names, or the first `trainFraction` of the sorted class folders). Labels number each
 * split's classes in sorted folder-name order; `classIds` are the folder names; samples are
 * ordered by class, then path. Every image is decoded once while building (`checkImages`), and
 * unreadable, empty, truncated or corrupt files are left out and listed in `dataset.skipped`
 * (`onBadImage: 'skip'`, the default) or thrown as IMAGE_UNREADABLE (`'fail'`). A training class
 * left with a single image has no positive pair and is named in a warning; in test it is allowed
 * (a distractor, its own query has no positive).
 */
export async function imageFolder(
  options: ImageFolderOptions,
): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const { root } = options;
  requirePath(root, 'image folder', LAYOUT, 'folder');
  const trainFolder = options.trainFolder ?? 'train';
  const testFolder = options.testFolder ?? 'test';
  const lists =
    options.trainClasses !== undefined ||
    options.testClasses !== undefined ||
    options.trainFraction !== undefined;
  const split =
    options.split ??
    (!lists && isDirectory(join(root, trainFolder)) && isDirectory(join(root, testFolder))
      ? 'folders'
      : 'classes');
  const ignored: string[] = [];
  let train: ClassFolder[];
  let test: ClassFolder[];
  if (split === 'folders') {
    if (lists)
      throw optionError(
        "trainClasses, testClasses and trainFraction apply to split 'classes', not 'folders'",
      );
    const trainDir = join(root, trainFolder);
    const testDir = join(root, testFolder);
    requirePath(trainDir, 'image folder', LAYOUT, 'folder');
    requirePath(testDir, 'image folder', LAYOUT, 'folder');
    train = readClasses(trainDir, classNames(trainDir), ignored);
    test = readClasses(testDir, classNames(testDir), ignored);
  } else if (split === 'classes') {
    const names = splitClasses(root, options);
    train = readClasses(root, names.train, ignored);
    test = readClasses(root, names.test, ignored);
  } else {
    throw optionError(`split must be 'folders' or 'classes', got '${String(split)}'`);
  }
  const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, 'RecallkitWarning'));
  if (ignored.length > 0) {
    const shown = ignored.slice(0, 5).map((p) => relative(root, p).split(sep).join('/'));
    warn(
      `image folder: ignored ${ignored.length} file(s) under ${root} that are not ${IMAGE_FOLDER_EXTENSIONS.join('/')}: ${shown.join(', ')}${
        ignored.length > shown.length ? ', ...' : ''
      }`,
    );
  }
  let sets = {
    train: build('image-folder-train', train, options),
    test: build('image-folder-test', test, options),
  };
  if (options.checkImages ?? true) {
    const total = sets.train.length + sets.test.length;
    const progress = options.onProgress;
    const trainLength = sets.train.length;
    const checked = await sets.train.withoutBadImages(
      progress ? { onProgress: (d) => progress(d, total) } : {},
    );
    sets = {
      train: checked,
      test: await sets.test.withoutBadImages(
        progress ? { onProgress: (d) => progress(trainLength + d, total) } : {},
      ),
    };
  }
  for (const d of [sets.train, sets.test]) {
    if (d.length === 0) {
      throw new RecallkitError(
        'DATASET_EMPTY',
        `${d.name}: none of the ${d.skipped.length} image(s) under ${root} could be decoded (first: ${d.skipped[0]?.path}: ${d.skipped[0]?.reason})`,
        { path: root, skipped: d.skipped },
      );
    }
  }
  const counts = new Int32Array(sets.train.numClasses);
  for (const label of sets.train.labels) counts[label]!++;
  const single = sets.train.classIds.filter((_, label) => counts[label] === 1);
  if (single.length > 0) {
    const base = split === 'folders' ? join(root, trainFolder) : root;
    warn(
      `image-folder-train: ${single.length} class folder(s) have a single image, so no positive pair to train on: ${single
        .slice(0, 10)
        .map((c) => join(base, String(c)))
        .join(', ')}${single.length > 10 ? ', ...' : ''}`,
    );
  }
  return sets;
}
