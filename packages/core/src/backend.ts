/**
 * Backend selection. Preference: tfjs-node-gpu, tfjs-node, wasm, cpu. The two native backends are
 * optional peer dependencies, imported only when asked for (or when probing in automatic mode).
 */
import { getThreadsCount, setThreadsCount, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelBackend } from '@tensorflow/tfjs-core';
import { RecallkitError } from './errors';
import { tf } from './tf';
import {
  describeNativeKernels,
  type NativeKernelsState,
  setNativeKernels,
  setNativeKernelThreads,
} from './wasm/native';
import {
  createThreadedWasmBackend,
  maxWasmThreads,
  resolveWasmThreads,
  type ThreadedWasmOverrides,
} from './wasm/threads';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** In order of preference. */
export const backendNames: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

type NativeName = 'tensorflow-gpu' | 'tensorflow';

/** The npm package behind each native backend. */
export const nativePackages: Readonly<Record<NativeName, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

export interface BackendDescription {
  /** Recallkit's name for the active backend. */
  backend: BackendName | string;
  /** The TensorFlow.js backend name ('tensorflow' for both native packages). */
  tfBackend: string;
  /** The package providing it. */
  package: string;
  /** wasm only: whether the SIMD build is in use. */
  simd?: boolean;
  /** wasm and cpu: threads used for tensor math. */
  threads?: number;
  /** wasm only: why fewer threads run than were asked for, when they do. */
  threadsNote?: string;
  /**
   * wasm only: the kernels computed natively by @recallkit/kernels-linux-x64 (OpenBLAS) instead of
   * in wasm, or why none are.
   */
  nativeKernels?: NativeKernelsState;
  versions: Record<string, string>;
  /** Backends skipped by automatic selection and why. */
  skipped: Array<{ backend: BackendName; reason: string }>;
}

type Importer = (id: string) => Promise<unknown>;

// A variable specifier keeps bundlers from resolving the optional packages at build time.
const defaultImporter: Importer = (id) => import(/* @vite-ignore */ id);

let loadedNative: { name: NativeName; versions: Record<string, string> } | undefined;
/** A failed import is not retried: a second attempt would only re-register its kernels. */
const failedNative = new Map<NativeName, RecallkitError>();
let active: BackendName | undefined;
let skipped: BackendDescription['skipped'] = [];

function isModuleNotFound(error: unknown, packageName: string): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = String(e?.code ?? '');
  const message = String(e?.message ?? '');
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(packageName);
}

function describeImportError(name: NativeName, packageName: string, error: unknown): RecallkitError {
  if (isModuleNotFound(error, packageName)) {
    return new RecallkitError(
      'BACKEND_NOT_INSTALLED',
      `Backend '${name}' needs ${packageName}, which is not installed: run \`npm install ${packageName}@^4.22.0\``,
      { backend: name, package: packageName },
    );
  }
  const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '').trim() : String(error);
  return new RecallkitError(
    'BACKEND_LOAD_FAILED',
    `Backend '${name}': ${packageName} is installed but failed to load (${reason}). Reinstall it with \`npm install ${packageName}@^4.22.0\` where its install script can download libtensorflow`,
    { backend: name, package: packageName, cause: reason },
  );
}

/**
 * Both native packages register the same kernels under 'tensorflow' as they load, so a second
 * attempt after a failed one warns once per kernel; those warnings alone are dropped.
 */
async function quietly<T>(load: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (/^The kernel '.+' for backend 'tensorflow' is already registered$/.test(String(args[0]))) return;
    warn(...args);
  };
  try {
    return await load();
  } finally {
    console.warn = warn;
  }
}

/**
 * Imports the package of a native backend, which registers backend 'tensorflow' with `tf`.
 * Exported for tests (the importer is replaceable); not part of the package's entry point.
 */
export async function loadNativeBackend(
  name: NativeName,
  importer: Importer = defaultImporter,
): Promise<void> {
  const packageName = nativePackages[name];
  if (loadedNative !== undefined) {
    if (loadedNative.name === name) return;
    throw new RecallkitError(
      'BACKEND_CONFLICT',
      `${nativePackages[loadedNative.name]} is already loaded in this process; ${packageName} cannot be loaded next to it`,
    );
  }
  const cache = importer === defaultImporter;
  const failed = cache ? failedNative.get(name) : undefined;
  if (failed !== undefined) throw failed;
  let module: unknown;
  try {
    module = await quietly(() => importer(packageName));
  } catch (error) {
    const wrapped = describeImportError(name, packageName, error);
    if (cache) failedNative.set(name, wrapped);
    throw wrapped;
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    throw new RecallkitError(
      'BACKEND_LOAD_FAILED',
      `${packageName} loaded but registered no 'tensorflow' backend with Recallkit's @tensorflow/tfjs-core: install versions matching @tensorflow/tfjs-core ${tf.version.tfjs}`,
      { backend: name, package: packageName },
    );
  }
  const version = (module as { version?: Record<string, string> }).version;
  loadedNative = { name, versions: { [packageName]: version?.['tfjs-node'] ?? 'unknown' } };
}

type BackendFactory = () => KernelBackend | Promise<KernelBackend>;

/** tfjs-backend-wasm's own factory: the single-threaded SIMD build under Node.js. */
let singleThreadedWasm: BackendFactory | undefined;
/** Threads the next wasm initialisation uses (set by useBackend; else resolved at that time). */
let pendingThreads: number | undefined;
let pendingOverrides: ThreadedWasmOverrides | undefined;
/** The wasm backend Recallkit created last: the count asked for and the count running. */
let wasmState: { instance: KernelBackend; requested: number; threads: number; note?: string } | undefined;

function engineRegistry(): Record<string, KernelBackend | undefined> {
  return (tf.engine() as unknown as { registry: Record<string, KernelBackend | undefined> }).registry;
}

function firstLine(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '').trim() : String(error);
}

/**
 * The `wasm` factory Recallkit registers in place of tfjs-backend-wasm's: the threaded SIMD build
 * when more than one thread is asked for, else (or when threads cannot start) tfjs's own.
 */
async function wasmFactory(): Promise<KernelBackend> {
  const requested = pendingThreads ?? resolveWasmThreads();
  const overrides = pendingOverrides;
  pendingThreads = undefined;
  pendingOverrides = undefined;
  const threads = Math.min(requested, maxWasmThreads);
  setNativeKernelThreads(requested);
  let note =
    requested > threads
      ? `asked for ${requested}; the threaded wasm binary runs at most ${maxWasmThreads}`
      : undefined;
  if (threads > 1 && !(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
    note = 'the threaded wasm build needs WebAssembly SIMD, which this runtime lacks; running on 1 thread';
  } else if (threads > 1) {
    try {
      const instance = await createThreadedWasmBackend(threads, overrides);
      wasmState = { instance, requested, threads: getThreadsCount(), ...(note ? { note } : {}) };
      return instance;
    } catch (error) {
      note = `threaded wasm could not start (${firstLine(error)}); running on 1 thread`;
      console.warn(
        `@recallkit/core: ${note}. Set RECALLKIT_THREADS=1 to run the single-threaded build without trying.`,
      );
    }
  }
  setThreadsCount(1);
  const instance = await (singleThreadedWasm as BackendFactory)();
  wasmState = { instance, requested, threads: 1, ...(note ? { note } : {}) };
  return instance;
}

/**
 * Puts Recallkit's wasm factory in place of tfjs-backend-wasm's (once; importing the package does
 * it). A wasm backend initialised before that is left as it is.
 */
export function installWasmBackend(): void {
  if (singleThreadedWasm !== undefined) return;
  const factory = tf.findBackendFactory('wasm') as BackendFactory | null;
  if (factory == null || engineRegistry()['wasm'] !== undefined) return;
  singleThreadedWasm = factory;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', wasmFactory, 2);
}

/**
 * Makes the next wasm initialisation use `threads`. A wasm backend already running another count
 * is re-created, which only an empty one can be: its tensors would be lost.
 */
function prepareWasm(threads: number, overrides?: ThreadedWasmOverrides): void {
  installWasmBackend();
  const instance = engineRegistry()['wasm'];
  if (instance === undefined) {
    pendingThreads = threads;
    pendingOverrides = overrides;
    return;
  }
  if (wasmState?.instance !== instance) return; // initialised before core was imported: left alone
  if (wasmState.requested === threads && overrides === undefined) return;
  const held = instance.numDataIds();
  if (held > 0) {
    throw new RecallkitError(
      'BACKEND_BUSY',
      `The wasm backend runs ${wasmState.threads} thread(s) and holds ${held} tensor(s); it can change to ${threads} only before tensors are created (set RECALLKIT_THREADS, or call useBackend('wasm', { threads }) first)`,
      { backend: 'wasm', threads: wasmState.threads, asked: threads, tensors: held },
    );
  }
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', wasmFactory, 2);
  pendingThreads = threads;
  pendingOverrides = overrides;
}

function parseName(name: string, source: string): BackendName {
  if ((backendNames as readonly string[]).includes(name)) return name as BackendName;
  throw new RecallkitError(
    'UNKNOWN_BACKEND',
    `Unknown backend '${name}' (from ${source}); choose one of ${backendNames.join(', ')}`,
    { backend: name },
  );
}

async function activate(
  name: BackendName,
  importer: Importer,
  threads: number,
  overrides?: ThreadedWasmOverrides,
): Promise<void> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') await loadNativeBackend(name, importer);
  if (name === 'wasm') prepareWasm(threads, overrides);
  const tfName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  let ok = false;
  try {
    ok = await tf.setBackend(tfName);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new RecallkitError(
      'BACKEND_UNAVAILABLE',
      `TensorFlow.js backend '${name}' could not be initialised`,
      { backend: name },
    );
  }
  await tf.ready();
  active = name;
}

export interface UseBackendOptions {
  /**
   * wasm: threads for tensor math (default: the environment variable RECALLKIT_THREADS, else
   * `os.availableParallelism()`; at most 8). 1 runs tfjs's single-threaded SIMD build.
   */
  threads?: number;
  /**
   * wasm: compute convolutions and the max-pool gradient with @recallkit/kernels-linux-x64
   * (OpenBLAS) where it is installed (default true, or false when RECALLKIT_NATIVE_KERNELS=0).
   */
  nativeKernels?: boolean;
  /** @internal replaces `import()` of the native packages (tests). */
  importer?: Importer;
  /** @internal test hooks of the threaded wasm start. */
  wasmOverrides?: ThreadedWasmOverrides;
}

/**
 * Selects and initialises a backend and returns its Recallkit name. With no argument the
 * environment variable RECALLKIT_BACKEND decides; without it, the first backend that loads in the
 * order tensorflow-gpu (tfjs-node-gpu), tensorflow (tfjs-node), wasm, cpu. An explicit choice that
 * cannot load throws (BACKEND_NOT_INSTALLED names the install command). On wasm, `threads` (or
 * RECALLKIT_THREADS, else every core) sets the threads; when they cannot start, wasm runs on one
 * thread and says so (a warning, and `describeBackend().threadsNote`).
 */
export async function useBackend(name?: BackendName, options: UseBackendOptions = {}): Promise<BackendName> {
  const importer = options.importer ?? defaultImporter;
  const fromEnv = process.env['RECALLKIT_BACKEND']?.trim();
  const wanted =
    name !== undefined
      ? parseName(name, 'the argument of useBackend')
      : fromEnv
        ? parseName(fromEnv, 'RECALLKIT_BACKEND')
        : undefined;
  // Resolved first: a bad RECALLKIT_THREADS fails at once rather than as a skipped backend.
  const threads = wanted === undefined || wanted === 'wasm' ? resolveWasmThreads(options.threads) : 1;
  if (options.nativeKernels !== undefined) setNativeKernels(options.nativeKernels);
  if (wanted !== undefined) {
    await activate(wanted, importer, threads, options.wasmOverrides);
    return wanted;
  }
  const reasons: BackendDescription['skipped'] = [];
  for (const candidate of backendNames) {
    try {
      await activate(candidate, importer, threads, options.wasmOverrides);
      skipped = reasons;
      return candidate;
    } catch (error) {
      reasons.push({
        backend: candidate,
        reason: error instanceof Error ? error.message : String(error),
      });
    }
  }
  throw new RecallkitError(
    'BACKEND_UNAVAILABLE',
    `No TensorFlow.js backend could be initialised: ${reasons.map((r) => `${r.backend}: ${r.reason}`).join('; ')}`,
  );
}

/** What is computing right now: backend, SIMD and threads where known, and versions. */
export function describeBackend(): BackendDescription {
  const tfBackend = tf.getBackend();
  const backend: BackendName | string =
    active !== undefined &&
    (active === tfBackend || (active === 'tensorflow-gpu' && tfBackend === 'tensorflow'))
      ? active
      : tfBackend;
  const versions: Record<string, string> = { '@tensorflow/tfjs-core': tf.version['tfjs-core'] };
  const description: BackendDescription = {
    backend,
    tfBackend,
    package: '@tensorflow/tfjs-core',
    versions,
    skipped: [...skipped],
  };
  if (tfBackend === 'wasm') {
    description.package = '@tensorflow/tfjs-backend-wasm';
    versions['@tensorflow/tfjs-backend-wasm'] = version_wasm;
    const simd = tf.env().getFlags()['WASM_HAS_SIMD_SUPPORT'];
    if (typeof simd === 'boolean') description.simd = simd;
    if (wasmState !== undefined && wasmState.instance === engineRegistry()['wasm']) {
      // The threaded build is a SIMD build.
      if (wasmState.threads > 1) description.simd = true;
      description.threads = wasmState.threads;
      if (wasmState.note !== undefined) description.threadsNote = wasmState.note;
    } else {
      try {
        description.threads = getThreadsCount();
      } catch {
        // not initialised by tfjs either
      }
    }
    description.nativeKernels = describeNativeKernels();
  } else if (tfBackend === 'tensorflow' && loadedNative !== undefined) {
    description.package = nativePackages[loadedNative.name];
    Object.assign(versions, loadedNative.versions);
  } else if (tfBackend === 'cpu') {
    description.package = '@tensorflow/tfjs-backend-cpu';
    versions['@tensorflow/tfjs-backend-cpu'] = tf.version['tfjs-backend-cpu'];
    description.threads = 1;
  }
  return description;
}
