import { RecallkitError } from '@recallkit/core';

export function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RecallkitError('INVALID_OPTION', `${what} must be a positive integer, got ${value}`);
  }
  return value;
}

export function shapeOf(value: readonly number[], rank: number, what: string): number[] {
  if (!Array.isArray(value) || value.length !== rank || !value.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RecallkitError(
      'INVALID_OPTION',
      `${what} must be ${rank} positive integers, got ${JSON.stringify(value)}`,
    );
  }
  return [...value];
}
