import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchCommand } from '../../scripts/bench/run.ts';
import { unitLaunch } from '../../scripts/bench/memory.ts';
import { loadedModules, RECORD_MODULES, REPO, runNode } from './helpers.ts';

/**
 * bin/edgeloom.js runs dist/cli.js (npm run build) while it is newer than every source it was built
 * from, else the TypeScript sources through tsx. Checked in a copy of the checkout sharing this
 * node_modules, with the module recorder telling which one ran.
 */
let copy: string;

before(async () => {
  copy = await mkdtemp(join(tmpdir(), 'edgeloom-bin-'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    if (!f.startsWith('src/') && !f.startsWith('cli/') && !f.startsWith('device/') && !f.startsWith('bin/') && !f.startsWith('scripts/') && f !== 'package.json') continue;
    if (!existsSync(join(REPO, f))) continue;
    await mkdir(dirname(join(copy, f)), { recursive: true });
    await cp(join(REPO, f), join(copy, f));
  }
  await symlink(join(REPO, 'node_modules'), join(copy, 'node_modules'), 'dir');
});

after(async () => {
  await rm(copy, { recursive: true, force: true });
});

async function whoRan(tag: string): Promise<{ dist: boolean; tsx: boolean; stdout: string }> {
  const log = join(copy, `${tag}.modules`);
  const exit = await runNode(['--import', RECORD_MODULES, 'bin/edgeloom.js', '--version'], { cwd: copy, env: { EDGELOOM_MODULE_LOG: log } });
  assert.equal(exit.code, 0, exit.stderr);
  const modules = loadedModules(await readFile(log, 'utf8'));
  const base = pathToFileURL(copy).href;
  return {
    dist: modules.includes(`${base}/dist/cli.js`),
    tsx: modules.some((u) => u.startsWith(`${base}/cli/index.ts`)),
    stdout: exit.stdout.trim(),
  };
}

describe('bin/edgeloom.js', () => {
  test('without a build: the sources through tsx', async () => {
    const ran = await whoRan('no-build');
    assert.deepEqual([ran.dist, ran.tsx], [false, true]);
    assert.match(ran.stdout, /^\d+\.\d+\.\d+/);
  });

  test('with a fresh build: dist/cli.js; once a source it was built from changes: the sources again', async () => {
    const built = await runNode(['scripts/build.mjs'], { cwd: copy });
    assert.equal(built.code, 0, built.stderr);
    const fresh = await whoRan('fresh');
    assert.deepEqual([fresh.dist, fresh.tsx], [true, false]);
    const later = new Date(Date.now() + 60_000);
    await utimes(join(copy, 'device', 'agent.ts'), later, later);
    const stale = await whoRan('stale');
    assert.deepEqual([stale.dist, stale.tsx], [false, true]);
    assert.equal(stale.stdout, fresh.stdout);
  });
});

describe('npm run bench -- --only memory', () => {
  test('runs scripts/bench/memory.ts with --update-docs/--quick', () => {
    const [script, ...args] = benchCommand('memory', { quick: true, docs: true });
    assert.match(script, /scripts\/bench\/memory\.ts$/);
    assert.deepEqual(args, ['--update-docs', '--quick']);
  });

  test('starts the agent as the systemd unit does: node flags from ExecStart, environment without EDGELOOM_*', async () => {
    const unit = await readFile(join(REPO, 'scripts', 'edgeloom-agent.service'), 'utf8');
    const launch = unitLaunch(unit);
    assert.deepEqual(launch.nodeArgs, ['--max-semi-space-size=1', '--max-old-space-size=256']);
    assert.equal(launch.env.MALLOC_ARENA_MAX, '2');
    assert.equal(launch.env.MALLOC_MMAP_THRESHOLD_, '65536');
    assert.deepEqual(Object.keys(launch.env).filter((k) => k.startsWith('EDGELOOM_')), []);
    assert.throws(() => unitLaunch('[Service]\nExecStart=/usr/bin/python3 agent.py\n'), /expected ExecStart=\.\.\. node \[flags\] \.\.\.\/edgeloom\.js agent/);
  });
});

describe('npm run install-board on Node 18 (Debian bookworm, USE_DISTRO_NODE=1)', () => {
  test('stops before installing anything, naming the way to Node 20', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-node18-'));
    try {
      await mkdir(join(dir, 'scripts'));
      for (const f of ['package.json', 'package-lock.json', '.npmrc', 'scripts/install-board.mjs']) await cp(join(REPO, f), join(dir, f));
      // Node 18 simulated: process.version(s) replaced before the script reads them.
      const node18 = 'data:text/javascript,' + encodeURIComponent('Object.defineProperty(process, "versions", { value: { ...process.versions, node: "18.19.0" } }); Object.defineProperty(process, ' +
        '"version", { value: "v18.19.0" });');
      const exit = await runNode(['--import', node18, 'scripts/install-board.mjs'], { cwd: dir });
      assert.equal(exit.code, 1);
      assert.match(exit.stderr, /^install-board: Node\.js >= 20 is required, this is v18\.19\.0\.\n/);
      assert.match(exit.stderr, /without\n? *USE_DISTRO_NODE=1/);
      assert.doesNotMatch(exit.stderr, /npm ci/);
      assert.ok(!existsSync(join(dir, 'node_modules')), 'nothing was installed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
