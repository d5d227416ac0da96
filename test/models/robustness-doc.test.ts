import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;

test('docs/robustness.md shows the robustness numbers the shipped model cards record', async () => {
  // --check compares the generated tables with the document and exits 1 on any difference.
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/robustness-tables.ts', '--check'], { cwd: root })
    .catch((err: { stdout: string; stderr: string; code: number }) => assert.fail(`exit ${err.code}: ${err.stderr}`));
  assert.equal(stdout, '');
  assert.equal(stderr, '');
});
