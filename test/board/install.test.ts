import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { Recorder } from '../device/helpers.ts';
import { makeFrames, REPO, runNode, type Exit } from './helpers.ts';

/**
 * `npm run install-board` on a fresh clone (#13): the runtime packages only, pruned for this
 * platform, at most 150 MB of node_modules, and a working agent (onnxruntime-node and wasm) from
 * the build. Installs from the npm cache `npm ci` filled (--prefer-offline). About 30 s, most of
 * it extracting onnxruntime-node (all platforms' binaries) before the prune.
 */
const LIMIT_BYTES = 150_000_000;
const WORKSTATION_ONLY = ['@tensorflow', 'fashion-mnist', 'mnist', 'tsx', 'typescript', '@typescript', 'playwright-core', 'cli-progress'];

let clone: string;
let install: Exit;
let broker: EmbeddedBroker;
let work: { dir: string; frames: string };

function bytesUnder(p: string): number {
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  return readdirSync(p).reduce((sum, name) => sum + bytesUnder(join(p, name)), 0);
}

function npm(args: string[], cwd: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  // A fresh clone of the working tree: the files git tracks (or would), no node_modules, no dist.
  clone = await mkdtemp(join(tmpdir(), 'edgeloom-clone-'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    if (!existsSync(join(REPO, f))) continue; // deleted in the working tree
    await mkdir(dirname(join(clone, f)), { recursive: true });
    await cp(join(REPO, f), join(clone, f));
  }
  install = await npm(['run', 'install-board', '--', '--prefer-offline'], clone);
  broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
  work = await makeFrames(3);
});

after(async () => {
  await broker?.close();
  await rm(clone, { recursive: true, force: true });
  if (work) await rm(work.dir, { recursive: true, force: true });
});

describe('npm run install-board on a fresh clone', () => {
  test('installs the runtime only, pruned for this platform, within 150 MB, without npm config warnings', () => {
    assert.equal(install.code, 0, install.stderr);
    assert.doesNotMatch(install.stderr, /Unknown (project|user|env) config/);
    const modules = join(clone, 'node_modules');
    const bytes = bytesUnder(modules);
    assert.ok(bytes <= LIMIT_BYTES, `node_modules is ${(bytes / 1e6).toFixed(1)} MB`);
    for (const name of WORKSTATION_ONLY) assert.ok(!existsSync(join(modules, name)), `${name} is workstation-only`);
    const ortBin = join(modules, 'onnxruntime-node', 'bin', 'napi-v6');
    assert.deepEqual(readdirSync(ortBin), [process.platform]);
    assert.deepEqual(readdirSync(join(ortBin, process.platform)), [process.arch]);
    assert.ok(existsSync(join(modules, 'onnxruntime-web', 'dist', 'ort-wasm-simd-threaded.wasm')), 'the wasm runtime stays for --ep wasm');
    assert.ok(!existsSync(join(modules, 'onnxruntime-web', 'dist', 'ort.webgpu.min.mjs')), 'browser bundles are pruned');
    assert.ok(existsSync(join(clone, 'dist', 'cli.js')), 'the build is there');
    assert.match(install.stderr, /install-board: node_modules [\d.]+ MiB/);
  });

  for (const ep of ['auto', 'wasm']) {
    test(`the installed agent labels frames from the build (--ep ${ep})`, async () => {
      const deviceId = `board-${ep}`;
      const rec = await Recorder.connect(broker.url, `edgeloom/${deviceId}/#`);
      try {
        const exit = await runNode(['bin/edgeloom.js', 'agent', '--source', `dir:${work.frames}`, '--max-frames', '3', '--fps', '50', '--mqtt-url', broker.url,
          '--device-id', deviceId, '--queue-dir', join(work.dir, `q-${ep}`), '--ep', ep], { cwd: clone });
        assert.equal(exit.code, 0, exit.stderr);
        await rec.waitFor('3 labels', () => rec.messages.filter((m) => m.topic.endsWith('/label')).length >= 3);
        const info = JSON.parse(rec.on(`edgeloom/${deviceId}/info`)[0].text) as { provider: string };
        assert.equal(info.provider, ep === 'wasm' ? 'wasm' : 'cpu');
      } finally {
        await rec.close();
      }
    });
  }

  test('training commands say how to get the full install', async () => {
    const exit = await runNode(['bin/edgeloom.js', 'train', '--epochs', '1', '--out', join(work.dir, 'run')], { cwd: clone });
    assert.equal(exit.code, 1);
    assert.equal(exit.stderr.trim(), 'edgeloom: this command needs the training packages, which a board install leaves out: run `npm ci` in the edgeloom checkout for the full install');
  });

  test('the fashion-mnist:test demo source says how to get the data', async () => {
    const cache = join(work.dir, 'empty-cache');
    const exit = await runNode(['bin/edgeloom.js', 'agent', '--source', 'fashion-mnist:test', '--max-frames', '1', '--mqtt-url', broker.url,
      '--device-id', 'board-demo', '--queue-dir', join(work.dir, 'q-demo')], { cwd: clone, env: { EDGELOOM_CACHE: cache } });
    assert.equal(exit.code, 1);
    const last = exit.stderr.trim().split('\n').pop()!;
    assert.match(last, /^edgeloom: fashion-mnist:test: no test images: /);
    assert.ok(last.includes(`copy t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte into ${join(cache, 'fashion-mnist-v1')}`), last);
    assert.match(last, /edgeloom data export --format idx --split test/);
  });

  // Last: it makes the clone's build stale.
  test('a build older than its sources, with no tsx to run them, says to rebuild', async () => {
    const later = new Date(Date.now() + 60_000);
    await utimes(join(clone, 'src', 'log.ts'), later, later);
    const exit = await runNode(['bin/edgeloom.js', '--version'], { cwd: clone });
    assert.equal(exit.code, 1);
    assert.equal(exit.stderr.trim(), 'edgeloom: src/log.ts changed after the last build and tsx is not installed: run `npm run build` (or `npm run install-board` on a board)');
    await rm(join(clone, 'dist'), { recursive: true });
    const none = await runNode(['bin/edgeloom.js', '--version'], { cwd: clone });
    assert.equal(none.code, 1);
    assert.equal(none.stderr.trim(), 'edgeloom: no build in dist/ and tsx is not installed: run `npm run install-board` (board) or `npm ci` (workstation)');
  });
});
