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
