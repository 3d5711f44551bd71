import { existsSync, readFileSync, statSync } from 'node:fs';
import { RecallkitError, type RecallkitErrorCode } from '@recallkit/core';

/** Throws a DATASET_FILE_MISSING error naming `path` and the dataset's expected layout. */
export function requirePath(
  path: string,
  dataset: string,
  layout: string,
  kind: 'file' | 'folder' = 'file',
): void {
  const found =
    existsSync(path) && (kind === 'folder' ? statSync(path).isDirectory() : statSync(path).isFile());
  if (!found) {
    throw new RecallkitError(
      'DATASET_FILE_MISSING',
      `${dataset}: ${kind} not found: ${path}\nExpected layout:\n${layout}`,
      { path, layout },
    );
  }
}

/** One non-blank line of a list file with its 1-based line number. */
export interface Line {
  line: number;
  text: string;
}

/** The non-blank lines of a text file (CRLF tolerated), trimmed. */
export function readLines(path: string): Line[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((text, i) => ({ line: i + 1, text: text.trim() }))
    .filter((l) => l.text !== '');
}

/** An error about one line of a list file, naming the file and the line. */
export function lineError(
  code: RecallkitErrorCode,
  path: string,
  line: number,
  message: string,
): RecallkitError {
  return new RecallkitError(code, `${path}:${line}: ${message}`, { path, line });
}

/** Parses an integer field of a list line, or throws naming the file and line. */
export function intField(value: string | undefined, what: string, path: string, line: number): number {
  if (value === undefined || !/^-?\d+$/.test(value)) {
    throw lineError('INVALID_DATASET_LIST', path, line, `${what} must be an integer, got '${value ?? ''}'`);
  }
  return Number(value);
}

/** Throws LABEL_OUT_OF_RANGE unless lo <= value <= hi. */
export function checkRange(
  value: number,
  lo: number,
  hi: number,
  what: string,
  path: string,
  line: number,
): void {
  if (value < lo || value > hi) {
    throw lineError('LABEL_OUT_OF_RANGE', path, line, `${what} ${value} is outside ${lo}..${hi}`);
  }
}
