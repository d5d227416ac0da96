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
