import { RecallkitError } from '@recallkit/core';

/** Throws INVALID_OPTION naming an option `name` does not know, with the ones it does. */
export function knownOptions(options: object, known: readonly string[], name: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new RecallkitError(
        'INVALID_OPTION',
        `${name}: unknown option '${key}' (known: ${known.join(', ')})`,
      );
    }
  }
}

/** Throws INVALID_OPTION unless `value` is a positive finite number. */
export function positiveNumber(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `option ${option} must be a positive finite number, got ${value}`,
    );
  }
  return value;
}
