import { RecallkitError } from '@recallkit/core';
import { parse as parseYaml } from 'yaml';

/**
 * Applies `path=value` overrides (`dataset.root=/data/sop`, `train.epochs=2`,
 * `sampler.classesPerBatch=10`) to a parsed experiment, before validation. The value is read as
 * YAML, so numbers, booleans and lists keep their type. A component given by name only
 * (`dataset: sop`) becomes `{ name: sop }` when one of its options is set.
 */
export function applyOverrides(raw: unknown, overrides: readonly string[]): unknown {
  if (overrides.length === 0) return raw;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RecallkitError('INVALID_CONFIG', '--set needs an experiment that is a mapping of fields');
  }
  const root = structuredClone(raw) as Record<string, unknown>;
  for (const override of overrides) {
    const eq = override.indexOf('=');
    const path = eq > 0 ? override.slice(0, eq).split('.') : [];
    if (path.length === 0 || path.some((p) => p === '')) {
      throw new RecallkitError('INVALID_OVERRIDE', `--set ${override}: expected <field.path>=<value>`);
    }
    const value: unknown = parseYaml(override.slice(eq + 1));
    let node = root;
    path.slice(0, -1).forEach((key, depth) => {
      const child = node[key];
      if (typeof child === 'string') node[key] = { name: child };
      else if (child === undefined) node[key] = {};
      else if (child === null || typeof child !== 'object' || Array.isArray(child)) {
        throw new RecallkitError(
          'INVALID_OVERRIDE',
          `--set ${override}: '${path.slice(0, depth + 1).join('.')}' is ${JSON.stringify(child)}, not a mapping`,
        );
      }
      node = node[key] as Record<string, unknown>;
    });
    node[path.at(-1)!] = value;
  }
  return root;
}
