import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RecallkitError } from '@recallkit/core';
import type { Registry } from '@recallkit/registry';

/** A plugin module exports `register(registry)` (or a default function of the same shape). */
export type PluginModule = { register?: (registry: Registry) => unknown; default?: unknown };

const loaded = new WeakMap<Registry, Set<string>>();

/**
 * Imports each plugin (a package name, or a path relative to `baseDir`) and lets it register its
 * components. A plugin is loaded once per registry.
 */
export async function loadPlugins(
  specs: readonly string[],
  registry: Registry,
  baseDir = process.cwd(),
): Promise<void> {
  const done = loaded.get(registry) ?? new Set<string>();
  loaded.set(registry, done);
  for (const spec of specs) {
    const target =
      spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolvePath(baseDir, spec)).href : spec;
    if (done.has(target)) continue;
    let module: PluginModule;
    try {
      module = (await import(target)) as PluginModule;
    } catch (error) {
      throw new RecallkitError(
        'PLUGIN_NOT_FOUND',
        `plugin '${spec}' could not be imported: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      );
    }
    const register = module.register ?? module.default;
    if (typeof register !== 'function') {
      throw new RecallkitError('INVALID_PLUGIN', `plugin '${spec}' exports no register(registry) function`);
    }
    await register(registry);
    done.add(target);
  }
}
