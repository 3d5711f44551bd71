import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { RecallkitError } from '@recallkit/core';
import { type Experiment, type Registry, validateExperiment } from '@recallkit/registry';
import { parse as parseYaml } from 'yaml';
import { loadPlugins } from './plugins';

/** Parses YAML (`.yaml`, `.yml`) or JSON text; the error names the file and the line. */
export function parseConfigText(text: string, source: string): unknown {
  const json = extname(source).toLowerCase() === '.json';
  try {
    return json ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new RecallkitError('CONFIG_SYNTAX', `${source}: not valid ${json ? 'JSON' : 'YAML'}: ${reason}`);
  }
}

/**
 * Reads an experiment file, loads the plugins it names, and validates the whole experiment
 * against the registry before anything is built.
 */
export async function loadExperiment(path: string, registry: Registry): Promise<Experiment> {
  return experimentFromObject(await readExperimentFile(path), registry, path, dirname(path));
}

/** The parsed (not yet validated) content of an experiment file. */
export async function readExperimentFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new RecallkitError('CONFIG_NOT_FOUND', `${path}: no such experiment file`);
  }
  return parseConfigText(text, path);
}

/** Validates an already-parsed experiment object (plugins resolved relative to `baseDir`). */
export async function experimentFromObject(
  raw: unknown,
  registry: Registry,
  source = 'config',
  baseDir = process.cwd(),
): Promise<Experiment> {
  const plugins = (raw as { plugins?: unknown } | null)?.plugins;
  if (Array.isArray(plugins) && plugins.every((p) => typeof p === 'string')) {
    await loadPlugins(plugins, registry, baseDir);
  }
  return validateExperiment(raw, registry, source);
}
