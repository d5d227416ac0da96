/**
 * An error meant for the person at the terminal: one line, naming the file or field and what was
 * expected. The CLI prints only its message (no stack) and exits non-zero.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * The first line of an error's message: libvips, onnxruntime and YAML parsers append detail lines
 * (a code frame, a stack of their own) that do not belong in a one-line log or UserError.
 */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
