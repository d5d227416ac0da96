import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLongLines, longLines } from '../../scripts/line-width.ts';

test('longLines: the lines over the limit, 1-based, with their width', () => {
  const text = ['short', 'x'.repeat(11), 'x'.repeat(10), '', `${'y'.repeat(12)}`].join('\n');
  assert.deepEqual(longLines('a.ts', text, 10), [
    { file: 'a.ts', line: 2, width: 11 },
    { file: 'a.ts', line: 5, width: 12 },
  ]);
});

test('findLongLines: every checked folder and source kind, not node_modules, dist or other files', async () => {
  const root = await mkdtemp(join(tmpdir(), 'el-width-'));
  try {
    const long = `const s = '${'z'.repeat(40)}';\n`;
    for (const dir of ['src/deep', 'cli', 'test/x', 'scripts', 'src/node_modules/p', 'dist', 'docs']) await mkdir(join(root, dir), { recursive: true });
    await writeFile(join(root, 'src/deep/a.ts'), `ok\n${long}`);
    await writeFile(join(root, 'cli/b.mjs'), long);
    await writeFile(join(root, 'test/x/c.test.ts'), 'fine\n');
    await writeFile(join(root, 'scripts/notes.md'), long);
    await writeFile(join(root, 'src/node_modules/p/d.js'), long);
    await writeFile(join(root, 'dist/e.js'), long);
    await writeFile(join(root, 'docs/f.ts'), long);
    assert.deepEqual(findLongLines(root, 40).map((l) => `${l.file}:${l.line}`).sort(), ['cli/b.mjs:1', 'src/deep/a.ts:2']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
