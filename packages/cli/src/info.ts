import { createRequire } from 'node:module';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { type BackendDescription, describeBackend, tf } from '@recallkit/core';
import { type FaissInfo, faissInfo } from '@recallkit/evaluator';
import type { Registry } from '@recallkit/registry';

export interface Info {
  readonly recallkit: Record<string, string>;
  readonly tfjs: string;
  readonly node: string;
  readonly backend: {
    readonly active: string;
    readonly registered: string[];
    /** Threads for tensor math (wasm, cpu), and on wasm why fewer run than were asked for. */
    readonly threads?: number;
    readonly threadsNote?: string;
    /** wasm: the kernels computed natively (@recallkit/kernels-linux-x64), or why none are. */
    readonly nativeKernels?: BackendDescription['nativeKernels'];
  };
  readonly faiss: FaissInfo;
  readonly machine: { readonly cores: number; readonly cpu: string; readonly memoryGiB: number };
  readonly components: Record<string, string[]>;
}

const require = createRequire(import.meta.url);
const PACKAGES = ['core', 'registry', 'losses', 'mixup', 'models', 'datasets', 'engine', 'evaluator', 'cli'];

function versionOf(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/** Versions, the active backend, whether faiss loaded, the machine, and every registered component. */
export function collectInfo(registry: Registry): Info {
  const engine = tf.engine() as unknown as { registryFactory?: Record<string, unknown> };
  const components: Record<string, string[]> = {};
  for (const c of registry.list())
    (components[c.kind] ??= []).push(c.aliases.length ? `${c.name} (${c.aliases.join(', ')})` : c.name);
  return {
    recallkit: Object.fromEntries(PACKAGES.map((p) => [`@recallkit/${p}`, versionOf(`@recallkit/${p}`)])),
    tfjs: tf.version.tfjs,
    node: process.version,
    backend: backendInfo(Object.keys(engine.registryFactory ?? {})),
    faiss: faissInfo(),
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    },
    components,
  };
}

function backendInfo(registered: string[]): Info['backend'] {
  const { threads, threadsNote, nativeKernels } = describeBackend();
  return {
    active: tf.getBackend(),
    registered,
    ...(threads !== undefined ? { threads } : {}),
    ...(threadsNote !== undefined ? { threadsNote } : {}),
    ...(nativeKernels !== undefined ? { nativeKernels } : {}),
  };
}

/** 'wasm, 2 threads (available: ...)' and, on wasm, the native kernels' line. */
function formatBackend(backend: Info['backend']): string[] {
  const threads =
    backend.threads !== undefined
      ? `, ${backend.threads} thread${backend.threads === 1 ? '' : 's'}${backend.threadsNote ? ` (${backend.threadsNote})` : ''}`
      : '';
  const lines = [
    `${'backend'.padEnd(22)} ${backend.active}${threads} (available: ${backend.registered.join(', ')})`,
  ];
  const native = backend.nativeKernels;
  if (native !== undefined) {
    lines.push(
      `${'native kernels'.padEnd(22)} ${
        native.kernels.length > 0
          ? `${native.kernels.join(', ')} on ${native.blas} (${native.threads} thread${native.threads === 1 ? '' : 's'})`
          : `none: ${native.note}`
      }`,
    );
  }
  return lines;
}

/** 'loaded from <package> <version> (<how it was built>)', or why exact search is used. */
function formatFaiss(faiss: FaissInfo): string {
  if (!faiss.loaded) return `not loaded: ${faiss.reason}; exact search is used`;
  const from = [faiss.source, faiss.version].filter(Boolean).join(' ');
  return `loaded from ${from}${faiss.detail ? ` (${faiss.detail})` : ''}`;
}

export function formatInfo(info: Info): string {
  const lines = [
    ...Object.entries(info.recallkit).map(([name, version]) => `${name.padEnd(22)} ${version}`),
    `${'tfjs'.padEnd(22)} ${info.tfjs}`,
    `${'node'.padEnd(22)} ${info.node}`,
    ...formatBackend(info.backend),
    `${'faiss'.padEnd(22)} ${formatFaiss(info.faiss)}`,
    `${'machine'.padEnd(22)} ${info.machine.cores} cores, ${info.machine.memoryGiB} GiB, ${info.machine.cpu}`,
    '',
    'components:',
    ...Object.entries(info.components).map(([kind, names]) => `  ${kind.padEnd(10)} ${names.join(', ')}`),
  ];
  return `${lines.join('\n')}\n`;
}
