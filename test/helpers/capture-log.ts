/**
 * Runs `fn` at log level debug (whatever EDGELOOM_LOG_LEVEL says) with process.stderr captured,
 * and returns its value with the log lines it wrote (src/log.ts writes one line per call).
 */
export async function captureLog<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const level = process.env.EDGELOOM_LOG_LEVEL;
  const write = process.stderr.write.bind(process.stderr);
  const lines: string[] = [];
  process.env.EDGELOOM_LOG_LEVEL = 'debug';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), lines };
  } finally {
    process.stderr.write = write;
    if (level === undefined) delete process.env.EDGELOOM_LOG_LEVEL;
    else process.env.EDGELOOM_LOG_LEVEL = level;
  }
}
