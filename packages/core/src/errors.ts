/** Base class of every error Recallkit throws: `code` is stable across versions, `message` is for people. */
export class RecallkitError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RecallkitError';
    this.code = code;
    this.details = details;
  }
}

/** True when `error` is a RecallkitError (with the given `code`, when one is given). */
export function isRecallkitError(error: unknown, code?: string): error is RecallkitError {
  return error instanceof RecallkitError && (code === undefined || error.code === code);
}
