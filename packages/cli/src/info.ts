import { createRequire } from 'node:module';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { tf } from '@recallkit/core';
import { type FaissInfo, faissInfo } from '@recallkit/evaluator';
import type { Registry } from '@recallkit/registry';

export interface Info {
  readonly recallkit: Record<string, string>;
  readonly tfjs: string;
  readonly node: string;
  readonly backend: { readonly active: string; readonly registered: string[] };
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
    backend: { active: tf.getBackend(), registered: Object.keys(engine.registryFactory ?? {}) },
    faiss: faissInfo(),
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    },
    components,
  };
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
    `${'backend'.padEnd(22)} ${info.backend.active} (available: ${info.backend.registered.join(', ')})`,
    `${'faiss'.padEnd(22)} ${formatFaiss(info.faiss)}`,
    `${'machine'.padEnd(22)} ${info.machine.cores} cores, ${info.machine.memoryGiB} GiB, ${info.machine.cpu}`,
    '',
    'components:',
    ...Object.entries(info.components).map(([kind, names]) => `  ${kind.padEnd(10)} ${names.join(', ')}`),
  ];
  return `${lines.join('\n')}\n`;
}
