/**
 * Cross-vendor emoji retrieval (the protocol of the project's PyTorch peer `emoji_dml.py`): the npm
 * packages emoji-datasource-{apple,google,twitter,facebook}@16.0.0, one class per emoji image (each
 * skin-tone variant its own class), the vendors' drawings as its instances.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { RecallkitError, writeFileAtomic } from '@recallkit/core';
import sharp from 'sharp';
import { PixelDataset, type PixelDatasetOptions } from './dataset';
import { compositeOnWhite, resizeBilinear } from './image/pil';

export const EMOJI_VENDORS = ['apple', 'google', 'twitter', 'facebook'] as const;
export type EmojiVendor = (typeof EMOJI_VENDORS)[number];
/** The version of the emoji-datasource packages the protocol's figures are for. */
export const EMOJI_DATASOURCE_VERSION = '16.0.0';

export interface EmojiOptions extends PixelDatasetOptions {
  /** Vendors whose drawings are the instances, in this order; default all four. */
  vendors?: readonly EmojiVendor[];
  /** Side of the square images; 32 (default) resizes the 64 x 64 drawings (PIL bilinear), 64 keeps them. */
  size?: number;
  /**
   * Folder holding the packages: a node_modules folder (`<root>/emoji-datasource-google/img/...`) or
   * a folder of unpacked `npm pack` tarballs (`<root>/emoji-datasource-google/package/img/...`).
   * Default: the installed packages, resolved from @recallkit/datasets, then from the working folder.
   */
  root?: string;
  /** Folder of the decoded-pixel cache; default `<OS cache dir>/recallkit/emoji` (or `$RECALLKIT_CACHE_DIR/emoji`). */
  cacheDir?: string;
  /** Read and write the cache; default true. */
  cache?: boolean;
  /** PNGs decoded at once on first use; default 8. */
  concurrency?: number;
  /** Called while decoding (not on a cache hit) with (decoded, total). */
  onProgress?: (done: number, total: number) => void;
}

/** The emoji images of one split: uint8 pixels in memory, normalised (x / 255 - 0.5) / 0.5 on load. */
export class EmojiDataset extends PixelDataset<string> {
  constructor(
    name: string,
    pixels: Uint8Array,
    labels: Int32Array,
    /** Per label, the emoji's image name in emoji.json without `.png`, e.g. '1f600' or '1f385-1f3fb'. */
    classIds: readonly string[],
    size: number,
    /** Vendors of the dataset, in option order. */
    readonly vendors: readonly EmojiVendor[],
    /** Per sample, its vendor's position in `vendors`. */
    readonly vendorOf: Uint8Array,
    options: PixelDatasetOptions = {},
  ) {
    super(name, pixels, labels, classIds, [size, size, 3], 0.5, 0.5, {
      augmentation: options.augmentation ?? 'translate',
      ...(options.translate ? { translate: options.translate } : {}),
    });
  }
}

/** How the pixels were obtained, for a run summary. */
export interface EmojiDecodeReport {
  images: number;
  /** True when the pixels came from the cache file. */
  cached: boolean;
  /** Seconds spent decoding or reading the cache. */
  seconds: number;
  /** The cache file read or written; null with `cache: false`. */
  cacheFile: string | null;
  /** Package folder and version of each package used (google's emoji.json gives the classes). */
  packages: Record<string, { dir: string; version: string }>;
}

export interface EmojiSplits {
  /** The training classes that have a drawing from every selected vendor (1,782 x 4 images with all four). */
  train: EmojiDataset;
  /** Every image of the test classes (7,560 images of 1,900 classes with all four vendors). */
  test: EmojiDataset;
  decode: EmojiDecodeReport;
}

const packageName = (v: EmojiVendor) => `emoji-datasource-${v}`;

/** The npm command that installs the given emoji-datasource packages at the protocol's version. */
export function emojiInstallCommand(vendors: readonly EmojiVendor[] = EMOJI_VENDORS): string {
  return `npm install ${vendors.map((v) => `${packageName(v)}@${EMOJI_DATASOURCE_VERSION}`).join(' ')}`;
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** The folder of one package, under `root` (node_modules or unpacked tarballs) or as installed; null if absent. */
function packageDir(vendor: EmojiVendor, root: string | undefined): string | null {
  const name = packageName(vendor);
  if (root !== undefined) {
    const d = join(root, name);
    const dir = isDir(join(d, 'package')) ? join(d, 'package') : d;
    return existsSync(join(dir, 'package.json')) || isDir(join(dir, 'img')) ? dir : null;
  }
  for (const from of [import.meta.url, join(process.cwd(), 'noop.js')]) {
    try {
      return dirname(createRequire(from).resolve(`${name}/package.json`));
    } catch {
      // not resolvable from here
    }
  }
  return null;
}

function packageVersion(dir: string): string {
  try {
    return String(
      (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: unknown }).version,
    );
  } catch {
    return 'unknown';
  }
}

/** The OS's per-user cache folder for Recallkit. */
export function recallkitCacheDir(): string {
  if (process.env.RECALLKIT_CACHE_DIR) return process.env.RECALLKIT_CACHE_DIR;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, 'recallkit');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'recallkit');
  if (process.platform === 'win32' && process.env.LOCALAPPDATA)
    return join(process.env.LOCALAPPDATA, 'recallkit', 'Cache');
  return join(homedir(), '.cache', 'recallkit');
}

/**
 * Decodes one emoji PNG as the peer does: RGBA over opaque white (Pillow's alpha_composite, then
 * RGB), resized to size x size with Pillow's bilinear filter unless it already has that size.
 * Returns size * size * 3 bytes, HWC. Throws on undecodable data.
 */
export async function decodeEmojiPng(input: Buffer, size: number): Promise<Uint8Array> {
  const { data, info } = await sharp(input, { failOn: 'error', ignoreIcc: true })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`decoded ${info.channels} channels, expected 4`);
  const rgb = compositeOnWhite(data, info.width * info.height);
  if (info.width === size && info.height === size) return rgb;
  return resizeBilinear(rgb, info.width, info.height, size, size);
}

interface EmojiEntry {
  image: string;
  sort_order: number;
  skin_variations?: Record<string, { image: string }> | null;
}

/** The decoded images: class and vendor of each, and the pixels. */
interface Decoded {
  /** Per class: image name (with .png) and split (0 train, 1 test). */
  classes: { image: string; split: 0 | 1 }[];
  classOf: Int32Array;
  vendorOf: Uint8Array;
  pixels: Uint8Array;
}

const MAGIC = 'RKEMOJI1';

function encodeCache(key: string, d: Decoded): Uint8Array[] {
  const header = Buffer.from(JSON.stringify({ key, classes: d.classes, count: d.classOf.length }));
  const head = Buffer.alloc(12);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(header.length, 8);
  const classOf = Buffer.from(d.classOf.buffer, d.classOf.byteOffset, d.classOf.byteLength);
  return [head, header, classOf, d.vendorOf, d.pixels];
}

function decodeCache(buf: Buffer, key: string, size: number): Decoded | null {
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) return null;
  const headerLength = buf.readUInt32LE(8);
  let header: { key: string; classes: Decoded['classes']; count: number };
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerLength));
  } catch {
    return null;
  }
  const n = header.count;
  const start = 12 + headerLength;
  if (header.key !== key || buf.length !== start + n * 4 + n + n * size * size * 3) return null;
  const classOf = new Int32Array(n);
  for (let i = 0; i < n; i++) classOf[i] = buf.readInt32LE(start + i * 4);
  const vendorOf = new Uint8Array(buf.buffer, buf.byteOffset + start + n * 4, n);
  const pixels = new Uint8Array(buf.buffer, buf.byteOffset + start + n * 5, n * size * size * 3);
  return { classes: header.classes, classOf, vendorOf, pixels };
}

async function forEachLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/**
 * The emoji benchmark's splits. Base emoji (google's emoji.json, by `sort_order`) at even
 * positions train, odd test; each skin-tone variant is its own class, listed after its base and in
 * its base's split. Train: the training classes with a drawing from every selected vendor; test:
 * every drawing of the test classes. Samples are ordered by class, then vendor. Pixels are decoded
 * once through sharp and cached on disk (keyed by vendors, size and package versions).
 */
export async function emoji(options: EmojiOptions = {}): Promise<EmojiSplits> {
  const vendors = [...(options.vendors ?? EMOJI_VENDORS)];
  const size = options.size ?? 32;
  if (vendors.length === 0 || new Set(vendors).size !== vendors.length) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `emoji: vendors must be distinct and non-empty, got [${vendors.join(', ')}]`,
    );
  }
  for (const v of vendors) {
    if (!(EMOJI_VENDORS as readonly string[]).includes(v)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `emoji: unknown vendor '${v}' (known: ${EMOJI_VENDORS.join(', ')})`,
      );
    }
  }
  if (!Number.isInteger(size) || size < 1) {
    throw new RecallkitError('INVALID_OPTION', `emoji: size must be a positive integer, got ${size}`);
  }
  const concurrency = options.concurrency ?? 8;
  // google's emoji.json gives the classes and their order, as in the peer.
  const needed = EMOJI_VENDORS.filter((v) => v === 'google' || vendors.includes(v));
  const dirs = new Map(needed.map((v) => [v, packageDir(v, options.root)] as const));
  const missing = needed.filter((v) => dirs.get(v) === null);
  if (missing.length > 0) {
    const where =
      options.root !== undefined
        ? `not found under ${options.root} (expected <root>/${packageName(missing[0]!)}/ or <root>/${packageName(missing[0]!)}/package/)`
        : 'not installed (they are optional peer dependencies of @recallkit/datasets)';
    throw new RecallkitError(
      'DATASET_PACKAGE_MISSING',
      `emoji: ${missing.map(packageName).join(', ')} ${where}. Install with:\n  ${emojiInstallCommand(missing)}`,
      { missing: missing.map(packageName), command: emojiInstallCommand(missing) },
    );
  }
  const packages: EmojiDecodeReport['packages'] = {};
  for (const v of needed) {
    const dir = dirs.get(v)!;
    packages[packageName(v)] = { dir, version: packageVersion(dir) };
  }
  const key = JSON.stringify({
    format: 1,
    size,
    vendors,
    versions: needed.map((v) => `${packageName(v)}@${packages[packageName(v)]!.version}`),
  });
  const cacheOn = options.cache ?? true;
  const cacheFile = cacheOn
    ? join(
        options.cacheDir ?? join(recallkitCacheDir(), 'emoji'),
        `emoji-${size}-${vendors.join('-')}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}.bin`,
      )
    : null;
  const t0 = performance.now();
  let decoded: Decoded | null = null;
  if (cacheFile !== null && existsSync(cacheFile))
    decoded = decodeCache(await readFile(cacheFile), key, size);
  const cached = decoded !== null;
  if (decoded === null) {
    decoded = await decodeAll(
      dirs as Map<EmojiVendor, string>,
      vendors,
      size,
      concurrency,
      options.onProgress,
    );
    if (cacheFile !== null) await writeFileAtomic(cacheFile, encodeCache(key, decoded));
  }
  const seconds = (performance.now() - t0) / 1000;
  const { train, test } = splitDecoded(decoded, vendors, size, options);
  return {
    train,
    test,
    decode: { images: decoded.classOf.length, cached, seconds, cacheFile, packages },
  };
}

async function decodeAll(
  dirs: Map<EmojiVendor, string>,
  vendors: readonly EmojiVendor[],
  size: number,
  concurrency: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Decoded> {
  const metaPath = join(dirs.get('google')!, 'emoji.json');
  let meta: EmojiEntry[];
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8')) as EmojiEntry[];
  } catch (e) {
    throw new RecallkitError(
      'DATASET_FILE_MISSING',
      `emoji: cannot read ${metaPath}: ${(e as Error).message}`,
    );
  }
  meta.sort((a, b) => a.sort_order - b.sort_order);
  const classes: Decoded['classes'] = [];
  const files: { cls: number; vendor: number; path: string }[] = [];
  meta.forEach((e, position) => {
    const split = (position % 2) as 0 | 1;
    const images = [e.image, ...Object.values(e.skin_variations ?? {}).map((s) => s.image)];
    for (const image of images) {
      const cls = classes.length;
      classes.push({ image, split });
      vendors.forEach((v, vendor) => {
        const path = join(dirs.get(v)!, 'img', v, '64', image);
        if (existsSync(path)) files.push({ cls, vendor, path });
      });
    }
  });
  const stride = size * size * 3;
  const pixels = new Uint8Array(files.length * stride);
  let done = 0;
  await forEachLimit(files.length, concurrency, async (i) => {
    const f = files[i]!;
    try {
      pixels.set(await decodeEmojiPng(await readFile(f.path), size), i * stride);
    } catch (e) {
      throw new RecallkitError(
        'IMAGE_UNREADABLE',
        `emoji: cannot decode ${f.path}: ${(e as Error).message}`,
        {
          path: f.path,
        },
      );
    }
    done++;
    if (onProgress && (done % 500 === 0 || done === files.length)) onProgress(done, files.length);
  });
  return {
    classes,
    classOf: Int32Array.from(files, (f) => f.cls),
    vendorOf: Uint8Array.from(files, (f) => f.vendor),
    pixels,
  };
}

function splitDecoded(
  d: Decoded,
  vendors: readonly EmojiVendor[],
  size: number,
  options: PixelDatasetOptions,
): { train: EmojiDataset; test: EmojiDataset } {
  const counts = new Int32Array(d.classes.length);
  for (const c of d.classOf) counts[c]!++;
  const stride = size * size * 3;
  const make = (name: string, keep: (cls: number) => boolean) => {
    const rows: number[] = [];
    for (let i = 0; i < d.classOf.length; i++) if (keep(d.classOf[i]!)) rows.push(i);
    const pixels = new Uint8Array(rows.length * stride);
    rows.forEach((r, k) => {
      pixels.set(d.pixels.subarray(r * stride, (r + 1) * stride), k * stride);
    });
    const labelOf = new Map<number, number>();
    const classIds: string[] = [];
    const labels = Int32Array.from(rows, (r) => {
      const cls = d.classOf[r]!;
      let label = labelOf.get(cls);
      if (label === undefined) {
        label = classIds.length;
        labelOf.set(cls, label);
        classIds.push(d.classes[cls]!.image.replace(/\.png$/, ''));
      }
      return label;
    });
    const vendorOf = Uint8Array.from(rows, (r) => d.vendorOf[r]!);
    return new EmojiDataset(name, pixels, labels, classIds, size, vendors, vendorOf, options);
  };
  return {
    train: make('emoji-train', (c) => d.classes[c]!.split === 0 && counts[c] === vendors.length),
    test: make('emoji-test', (c) => d.classes[c]!.split === 1),
  };
}
