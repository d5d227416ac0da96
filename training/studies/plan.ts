import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';

/**
 * Commands that train many models (`cv`, `search`) keep what they finished and continue where they
 * stopped. Their plan (protocol, recipe, data) is stored in OUT/FILE: a rerun with the same plan
 * continues, a different plan is refused instead of mixing two experiments in one directory.
 */
export async function checkPlan(out: string, file: string, plan: object, command: string): Promise<void> {
  const path = join(out, file);
  const text = `${JSON.stringify(plan, null, 2)}\n`;
  if (existsSync(path)) {
    if ((await readFile(path, 'utf8')) !== text) throw new UserError(`--out ${out}: holds a ${command} run with other settings (${path}); use another --out, or the same flags to continue it`);
    return;
  }
  await writeFileAtomic(path, text);
}
