import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

/** `biome lint` with the project's biome.json on `files` (path -> source) in a scratch folder. */
async function lint(files: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'el-lint-'));
  try {
    await copyFile(join(ROOT, 'biome.json'), join(dir, 'biome.json'));
    for (const [path, source] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), source);
    }
    // No git repository here, so no .gitignore to read.
    const r = spawnSync(BIOME, ['lint', '--vcs-enabled=false', '--colors=off', '--max-diagnostics=50'], { cwd: dir, encoding: 'utf8' });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('npm run lint catches an unused import and a floating promise in our folders', async () => {
  const r = await lint({
    'cli/bad.ts': [
      "import { join } from 'node:path';",
      "import { writeFileAtomic } from '../src/fs-atomic.ts';",
      'async function save(): Promise<void> {}',
      'export function run(): void {',
      '  save();',
      "  writeFileAtomic('out.json', '{}');",
      '}',
    ].join('\n'),
    'src/fs-atomic.ts': 'export async function writeFileAtomic(path: string, data: string): Promise<void> {}\n',
  });
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /cli\/bad\.ts:1:\d+ lint\/correctness\/noUnusedImports/);
  assert.match(r.output, /cli\/bad\.ts:5:3 lint\/nursery\/noFloatingPromises/);
  assert.match(r.output, /cli\/bad\.ts:6:3 lint\/nursery\/noFloatingPromises/);
});

test('awaited, returned or voided promises and used imports pass; folders outside the sources are not linted', async () => {
  const r = await lint({
    'device/good.ts': [
      "import { join } from 'node:path';",
      'async function save(path: string): Promise<void> {}',
      'export async function run(): Promise<void> {',
      "  await save(join('a', 'b'));",
      "  void save('background');",
      "  return save('last');",
      '}',
    ].join('\n'),
    'docs/ignored.ts': "import { join } from 'node:path';\nasync function f(): Promise<void> {}\nf();\n",
  });
  assert.equal(r.code, 0, r.output);
});
