import { PasswordFileError, checkUserName, updatePasswordFile } from './broker-auth.ts';

/** A password longer than this is a mistake (a file piped in by accident), not a password. */
const MAX_PASSWORD_BYTES = 1024;

/** Reads one line from a TTY without echoing it; Ctrl-C and Ctrl-D abort. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the prompt shows, so nothing typed right after it is echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003' || ch === '\u0004') return finish(new PasswordFileError('EPASSWD_INPUT', 'aborted: no password written'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
        if (Buffer.byteLength(value) > MAX_PASSWORD_BYTES) return finish(new PasswordFileError('EPASSWD_INPUT', `password: longer than ${MAX_PASSWORD_BYTES} bytes`));
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Reads the first line of a piped stdin (`echo "$PW" | edgeloom broker passwd FILE USER`). */
async function readPipedLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString('utf8');
    const nl = text.indexOf('\n');
    if (nl >= 0) {
      text = text.slice(0, nl);
      break;
    }
    if (Buffer.byteLength(text) > MAX_PASSWORD_BYTES) break;
  }
  text = text.replace(/\r$/, '');
  if (Buffer.byteLength(text) > MAX_PASSWORD_BYTES) throw new PasswordFileError('EPASSWD_INPUT', `stdin: password longer than ${MAX_PASSWORD_BYTES} bytes`);
  return text;
}

async function readNewPassword(user: string): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await promptHidden(`Password for ${user}: `);
    const again = await promptHidden('Reenter password: ');
    if (again !== password) throw new PasswordFileError('EPASSWD_INPUT', 'the two passwords differ; nothing written');
  } else {
    password = await readPipedLine();
  }
  if (password === '') throw new PasswordFileError('EPASSWD_INPUT', `password for ${user}: empty; nothing written`);
  return password;
}

/**
 * `edgeloom broker passwd FILE USER [--delete]` (like mosquitto_passwd): asks for the password on a
 * terminal, or reads the first line of stdin when it is not one, and rewrites FILE atomically with
 * mode 0600. The password never appears on the command line, where `ps` would show it.
 */
export async function runPasswdCommand(file: string, user: string, opts: { delete?: boolean }): Promise<void> {
  checkUserName(user);
  const outcome = await updatePasswordFile(file, user, opts.delete ? null : await readNewPassword(user));
  process.stderr.write(`${file}: ${outcome} user ${user}${opts.delete ? '' : '; a running edgeloom broker re-reads the file on SIGHUP'}\n`);
}
