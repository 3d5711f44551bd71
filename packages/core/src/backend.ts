/**
 * Backend selection. Preference: tfjs-node-gpu, tfjs-node, wasm, cpu. The two native backends are
 * optional peer dependencies, imported only when asked for (or when probing in automatic mode).
 */
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { RecallkitError } from './errors';
import { tf } from './tf';

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
  /** wasm only: threads used for tensor math (Node.js runs wasm single-threaded). */
  threads?: number;
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
      `${packageName} loaded but registered no 'tensorflow' backend with Recallkit's @tensorflow/tfjs: install versions matching @tensorflow/tfjs ${tf.version.tfjs}`,
      { backend: name, package: packageName },
    );
  }
  const version = (module as { version?: Record<string, string> }).version;
  loadedNative = { name, versions: { [packageName]: version?.['tfjs-node'] ?? 'unknown' } };
}

function parseName(name: string, source: string): BackendName {
  if ((backendNames as readonly string[]).includes(name)) return name as BackendName;
  throw new RecallkitError(
    'UNKNOWN_BACKEND',
    `Unknown backend '${name}' (from ${source}); choose one of ${backendNames.join(', ')}`,
    { backend: name },
  );
}

async function activate(name: BackendName, importer: Importer): Promise<void> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') await loadNativeBackend(name, importer);
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

/**
 * Selects and initialises a backend and returns its Recallkit name. With no argument the
 * environment variable RECALLKIT_BACKEND decides; without it, the first backend that loads in the
 * order tensorflow-gpu (tfjs-node-gpu), tensorflow (tfjs-node), wasm, cpu. An explicit choice that
 * cannot load throws (BACKEND_NOT_INSTALLED names the install command).
 */
export async function useBackend(
  name?: BackendName,
  /** @internal replaces `import()` of the native packages (tests). */
  options: { importer?: Importer } = {},
): Promise<BackendName> {
  const importer = options.importer ?? defaultImporter;
  const fromEnv = process.env['RECALLKIT_BACKEND']?.trim();
  const wanted =
    name !== undefined
      ? parseName(name, 'the argument of useBackend')
      : fromEnv
        ? parseName(fromEnv, 'RECALLKIT_BACKEND')
        : undefined;
  if (wanted !== undefined) {
    await activate(wanted, importer);
    return wanted;
  }
  const reasons: BackendDescription['skipped'] = [];
  for (const candidate of backendNames) {
    try {
      await activate(candidate, importer);
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
  const versions: Record<string, string> = { '@tensorflow/tfjs': tf.version.tfjs };
  const description: BackendDescription = {
    backend,
    tfBackend,
    package: '@tensorflow/tfjs',
    versions,
    skipped: [...skipped],
  };
  if (tfBackend === 'wasm') {
    description.package = '@tensorflow/tfjs-backend-wasm';
    versions['@tensorflow/tfjs-backend-wasm'] = version_wasm;
    const flags = tf.env().getFlags();
    const simd = flags['WASM_HAS_SIMD_SUPPORT'];
    if (typeof simd === 'boolean') description.simd = simd;
    // tfjs only uses wasm threads where SharedArrayBuffer workers exist: never under Node.js.
    if (flags['WASM_HAS_MULTITHREAD_SUPPORT'] === false) description.threads = 1;
  } else if (tfBackend === 'tensorflow' && loadedNative !== undefined) {
    description.package = nativePackages[loadedNative.name];
    Object.assign(versions, loadedNative.versions);
  } else if (tfBackend === 'cpu') {
    description.threads = 1;
  }
  return description;
}
