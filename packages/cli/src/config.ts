import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { RecallkitError } from '@recallkit/core';
import { type Experiment, type Registry, validateExperiment } from '@recallkit/registry';
import { parse as parseYaml } from 'yaml';
import { loadPlugins } from './plugins';

/**
 * The index of the first character YAML and JSON text cannot hold (a control character other than
 * tab, line feed and carriage return, or U+FFFD, what bytes that are not UTF-8 decode to), or -1.
 */
function firstBinary(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13) || c === 0x7f || c === 0xfffd) return i;
  }
  return -1;
}

/**
 * Parses YAML (`.yaml`, `.yml`) or JSON text; the error names the file and the line. Binary data
 * (a control character or bytes that are not UTF-8) is refused as such rather than read as a
 * YAML string.
 */
export function parseConfigText(text: string, source: string): unknown {
  const json = extname(source).toLowerCase() === '.json';
  const at = firstBinary(text);
  if (at >= 0) {
    const line = text.slice(0, at).split('\n').length;
    const c = text.charCodeAt(at);
    const what =
      c === 0xfffd
        ? 'bytes that are not UTF-8'
        : `the control character U+${c.toString(16).padStart(4, '0').toUpperCase()}`;
    throw new RecallkitError(
      'CONFIG_SYNTAX',
      `${source}: not ${json ? 'JSON' : 'YAML'} text: line ${line} holds ${what} (a binary file?)`,
    );
  }
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
  const raw = parseConfigText(text, path);
  if (raw === null || raw === undefined) {
    throw new RecallkitError(
      'CONFIG_EMPTY',
      `${path}: the experiment file is empty${text.trim() === '' ? '' : ' (comments only)'}: it needs the experiment's fields (name, dataset, sampler, model, loss, ...)`,
    );
  }
  return raw;
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
