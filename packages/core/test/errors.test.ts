// The one list of error codes: docs/errors.md is generated from it, and every code in it is thrown
// somewhere (a code nothing throws is dead vocabulary). `UPDATE_DOCS=1 npx vitest run
// test/errors.test.ts` rewrites the doc.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCodes, isRecallkitError, RecallkitError } from '../src/index';

const root = new URL('../../../', import.meta.url).pathname;
const DOC = join(root, 'docs/errors.md');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.ts$/.test(name) ? [path] : [];
  });
}

function render(): string {
  const rows = Object.entries(errorCodes).map(
    ([code, meaning]) => `| \`${code}\` | ${meaning.replaceAll('|', '\\|')} |`,
  );
  return [
    '# Error codes',
    '',
    'Every `RecallkitError` carries one of these codes in `error.code`; they are stable across',
    'versions, and `isRecallkitError(error, code)` tests for one. The message says the rest: the file,',
    'the row, the option at fault and the values that would work. Generated from `errorCodes` in',
    '`@recallkit/core` (`packages/core/src/errors.ts`) by `packages/core/test/errors.test.ts`.',
    '',
    '| code | meaning |',
    '|---|---|',
    ...rows,
    '',
  ].join('\n');
}

describe('error codes', () => {
  it('every listed code is thrown by some package', () => {
    const text = ['packages', 'examples']
      .flatMap((top) => readdirSync(join(root, top)).map((p) => join(root, top, p, 'src')))
      .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory())
      .flatMap(sources)
      .filter((file) => !file.endsWith('core/src/errors.ts'))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const unused = Object.keys(errorCodes).filter((code) => !text.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('docs/errors.md is the list', () => {
    if (process.env['UPDATE_DOCS'] === '1') writeFileSync(DOC, render());
    expect(readFileSync(DOC, 'utf8')).toBe(render());
  });

  it('a RecallkitError carries its code, and isRecallkitError tells codes apart', () => {
    const error = new RecallkitError('INVALID_LABELS', 'labels[2] = 0.5 is not an integer', { row: 2 });
    expect(error).toBeInstanceOf(Error);
    expect(error.details).toEqual({ row: 2 });
    expect(isRecallkitError(error)).toBe(true);
    expect(isRecallkitError(error, 'INVALID_LABELS')).toBe(true);
    expect(isRecallkitError(error, 'INVALID_OPTION')).toBe(false);
    expect(isRecallkitError(new Error('x'))).toBe(false);
  });
});
