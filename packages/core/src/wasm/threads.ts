/**
 * The `wasm` backend on several threads under Node.js.
 *
 * `@tensorflow/tfjs-backend-wasm` ships a threaded SIMD build (XNNPACK on a pthreadpool whose
 * threads are Emscripten pthreads, i.e. workers sharing one WebAssembly.Memory) but turns it off
 * under Node.js (`WASM_HAS_MULTITHREAD_SUPPORT` is false when `IS_NODE`): its loader hands
 * Emscripten a Blob URL for the worker script and a Blob for the main script, which Node.js's
 * `worker_threads` cannot run. Everything else the build needs exists in Node.js. This module
 * loads the shipped files itself, as files:
 * - the Emscripten main script `wasm-out/tfjs-backend-wasm-threaded-simd.js`, required as a
 *   CommonJS module, and given to every pthread worker by path (`mainScriptUrlOrBlob`);
 * - the pthread worker script, which the package ships as a string
 *   (`wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`), started from a `data:` URL;
 * - the binary, compiled once and instantiated through Emscripten's `instantiateWasm` hook, where
 *   the core count the binary sees (`emscripten_num_logical_cores`, which it halves and caps at 8)
 *   is replaced so that the pool gets exactly the threads asked for.
 * The backend object is tfjs's own `BackendWasm`, so every wasm kernel (tfjs's and Recallkit's)
 * runs unchanged. The pool's workers are unreferenced once started: they never keep the process
 * alive. Any failure to start rejects, and the caller falls back to the single-threaded build.
 * No file inside node_modules is modified.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { RecallkitError } from '../errors';

/** The most threads the shipped threaded binary runs (its pool size and its cap, both 8). */
export const maxWasmThreads = 8;

/** Threads for tensor math: an explicit count, else RECALLKIT_THREADS, else the machine's cores. */
export function resolveWasmThreads(threads?: number): number {
  if (threads !== undefined) return checkThreads(threads, 'the threads option');
  const fromEnv = process.env['RECALLKIT_THREADS']?.trim();
  if (fromEnv) return checkThreads(Number(fromEnv), 'RECALLKIT_THREADS', fromEnv);
  return availableParallelism();
}

function checkThreads(n: number, source: string, raw: unknown = n): number {
  if (Number.isInteger(n) && n >= 1) return n;
  throw new RecallkitError(
    'INVALID_OPTION',
    `Invalid thread count ${JSON.stringify(raw)} (from ${source}): give a whole number of at least 1`,
    { threads: raw },
  );
}

/** The few WebAssembly APIs used here (the project's TypeScript libs do not declare them). */
type WasmModule = object;
type WasmInstance = object;
type WasmImports = Record<string, Record<string, unknown>>;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: WasmImports): Promise<WasmInstance>;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface PThreadWorker extends Worker {
  onerror?: (e: unknown) => void;
  loaded?: boolean;
}

/** The parts of Emscripten's module object this file touches. */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...args: number[]) => number;
  wasmMemory: { buffer: ArrayBufferLike };
  HEAPU8: Uint8Array;
  PThread: {
    unusedWorkers: PThreadWorker[];
    runningWorkers: PThreadWorker[];
    terminateAllThreads(): void;
  };
  tfjs?: Record<string, unknown>;
}

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** @internal Test hooks. */
export interface ThreadedWasmOverrides {
  /** Replaces the pthread worker script (to test failures). */
  workerUrl?: URL;
  /** Milliseconds to wait for the workers to load (default 60 s). */
  timeoutMs?: number;
}

// Resolved from this file: works from the sources (tests), the ESM build and the CommonJS build.
const here: string | undefined = typeof __filename === 'string' ? __filename : undefined;
let requireHere: NodeJS.Require | undefined;
function localRequire(): NodeJS.Require {
  requireHere ??= createRequire(here ?? import.meta.url);
  return requireHere;
}

let files: { script: string; compiled: Promise<WasmModule>; factory: Factory; workerUrl: URL } | undefined;

function threadedFiles(): NonNullable<typeof files> {
  if (files !== undefined) return files;
  const require = localRequire();
  const root = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const script = join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  const binary = join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.wasm');
  const factory = require(script) as Factory;
  const { wasmWorkerContents } = require(workerModule) as { wasmWorkerContents: string };
  // The string holds "\n" escapes that became real newlines inside string literals; tfjs's own
  // loader escapes them back the same way before making a Blob of it.
  const body = wasmWorkerContents.replace(/\n/g, '\\n');
  // A data: URL is an ES module: it makes the CommonJS `require` and `__filename` the script uses.
  const source = [
    "import { createRequire } from 'node:module';",
    `const require = createRequire(${JSON.stringify(workerModule)});`,
    `new Function('require', '__filename', ${JSON.stringify(body)})(require, ${JSON.stringify(workerModule)});`,
  ].join('\n');
  const workerUrl = new URL(`data:text/javascript,${encodeURIComponent(source)}`);
  files = { script, compiled: WebAssemblyApi.compile(readFileSync(binary)), factory, workerUrl };
  return files;
}

/**
 * Emscripten refreshes `Module.HEAPU8` only on the thread that grew the memory. tfjs reads
 * `wasm.HEAPU8` for every tensor; this keeps it current whichever thread grew it.
 */
function keepHeapCurrent(module: EmscriptenModule): void {
  let view = module.HEAPU8;
  Object.defineProperty(module, 'HEAPU8', {
    configurable: true,
    enumerable: true,
    get() {
      const buffer = module.wasmMemory.buffer;
      if (view.buffer !== buffer && view.byteLength !== buffer.byteLength) view = new Uint8Array(buffer);
      return view;
    },
    set(value: Uint8Array) {
      view = value;
    },
  });
}

type ProcessListener = (...args: unknown[]) => void;
const processEvents = ['uncaughtException', 'unhandledRejection'] as const;

function listenersNow(): ProcessListener[][] {
  return processEvents.map((event) => process.listeners(event as 'uncaughtException') as ProcessListener[]);
}

/**
 * Emscripten's Node.js prelude adds process listeners that rethrow every uncaught exception and
 * unhandled rejection (turning a crash's exit code 1 into 7); they do nothing useful here.
 */
function removeAddedListeners(before: ProcessListener[][]): void {
  processEvents.forEach((event, i) => {
    for (const listener of process.listeners(event as 'uncaughtException') as ProcessListener[]) {
      if (!before[i]?.includes(listener)) process.removeListener(event, listener);
    }
  });
}

/**
 * Starts tfjs-backend-wasm's threaded SIMD build with `threads` threads (2 to 8) and returns its
 * backend. Rejects, with every worker it started terminated, when the workers cannot start.
 */
export async function createThreadedWasmBackend(
  threads: number,
  overrides: ThreadedWasmOverrides = {},
): Promise<BackendWasm> {
  if (threads < 2 || threads > maxWasmThreads) {
    throw new RangeError(`threaded wasm runs 2 to ${maxWasmThreads} threads, not ${threads}`);
  }
  const { script, compiled, factory, workerUrl } = threadedFiles();
  const wasmModule = await compiled;
  const config: Record<string, unknown> & Partial<EmscriptenModule> = {};
  let fail: (reason: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // A failure reported after the start (or after another failure) has no one waiting for it.
  failed.catch(() => {});
  const saved = new Map<PThreadWorker, PThreadWorker['onerror']>();
  const watch = (workers: PThreadWorker[]) => {
    for (const worker of workers) {
      if (saved.has(worker)) continue;
      saved.set(worker, worker.onerror);
      worker.onerror = (e) => fail(e);
      worker.once('exit', (code) => {
        if (!worker.loaded) fail(new Error(`a wasm pthread worker exited with code ${code} before loading`));
      });
    }
  };
  Object.assign(config, {
    locateFile: (path: string, prefix: string) => {
      if (path.endsWith('.worker.js')) return overrides.workerUrl ?? workerUrl;
      if (path.endsWith('.wasm')) return join(dirname(script), path);
      return prefix + path;
    },
    mainScriptUrlOrBlob: script,
    instantiateWasm: (info: WasmImports, receive: (instance: WasmInstance, module: WasmModule) => void) => {
      // The binary sizes its pool as min(threads asked, 8, cores / 2): report 2 x threads cores.
      const imports = { ...info, env: { ...info.env, emscripten_num_logical_cores: () => 2 * threads } };
      WebAssemblyApi.instantiate(wasmModule, imports).then((instance) => {
        // The binary starts a pool of 8 workers; the pthreadpool uses threads - 1 of them (the
        // calling thread is its first). The others are stopped before the module is sent to them.
        const pool = config.PThread?.unusedWorkers;
        if (pool !== undefined) for (const extra of pool.splice(threads - 1)) void extra.terminate();
        receive(instance, wasmModule);
        // `receive` posts the module to the pool's workers and installs their error handlers,
        // which throw on the main thread; ours turn a failure into a rejection instead.
        if (config.PThread !== undefined) watch(config.PThread.unusedWorkers);
      }, fail);
      return {};
    },
    onAbort: (what: unknown) => fail(new Error(`wasm aborted: ${String(what)}`)),
  });
  const before = listenersNow();
  let module: EmscriptenModule | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    let ready: Promise<EmscriptenModule>;
    try {
      ready = factory(config);
    } finally {
      removeAddedListeners(before);
    }
    // Workers that fail before the module reaches them report through 'error' events.
    for (const worker of config.PThread?.unusedWorkers ?? []) worker.on('error', (e) => fail(e));
    const timeoutMs = overrides.timeoutMs ?? 60_000;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the wasm pthread workers did not start within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    module = await Promise.race([ready, failed, timeout]);
    clearTimeout(timer);
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    keepHeapCurrent(module);
    // BackendWasm's constructor creates the pthreadpool: threads - 1 workers start running.
    setThreadsCount(threads);
    const backend = new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
    for (const [worker, handler] of saved) worker.onerror = handler;
    // Emscripten references a worker while it runs a pthread; pool threads run for the life of
    // the backend, so left referenced they would keep Node.js from exiting.
    for (const worker of module.PThread.runningWorkers) worker.unref();
    return backend;
  } catch (error) {
    clearTimeout(timer);
    try {
      (module ?? config).PThread?.terminateAllThreads();
    } catch {
      // nothing more to stop
    }
    throw error instanceof Error ? error : new Error(describeFailure(error));
  }
}

function describeFailure(error: unknown): string {
  const e = error as { message?: unknown } | undefined;
  return typeof e?.message === 'string' ? e.message : String(error);
}
