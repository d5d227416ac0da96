import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { UserError } from '../../src/errors.ts';
import { backendDescription, parseBackendName, selectBackend, selectedBackend, tf } from '../../training/backend/index.ts';

const tfjsNodeInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

test('cpu and wasm run when asked for, and the description names the running back end', async () => {
  assert.deepEqual(await selectBackend('cpu'), { name: 'cpu', reason: 'requested' });
  assert.equal(tf.getBackend(), 'cpu');
  assert.match(await backendDescription(), /^cpu /);
  assert.deepEqual(await selectBackend('wasm'), { name: 'wasm', reason: 'requested' });
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(selectedBackend(), { name: 'wasm', reason: 'requested' });
  assert.match(await backendDescription(), /^wasm \(SIMD, 1 thread, edgeloom kernels: Conv2DBackpropFilter/);
});

test('auto picks tfjs-node when installed, otherwise wasm', async () => {
  const info = await selectBackend('auto');
  assert.equal(info.name, tfjsNodeInstalled ? 'node' : 'wasm');
  assert.equal(tf.getBackend(), tfjsNodeInstalled ? 'tensorflow' : 'wasm');
  if (!tfjsNodeInstalled) assert.match(info.reason, /tfjs-node not installed/);
});

test('asking for node without tfjs-node is a one-line UserError with the install command', { skip: tfjsNodeInstalled }, async () => {
  const before = tf.getBackend();
  await assert.rejects(selectBackend('node'), (err: Error) => {
    assert.ok(err instanceof UserError);
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, /npm install @tensorflow\/tfjs-node/);
    return true;
  });
  assert.equal(tf.getBackend(), before, 'a failed request leaves the running back end alone');
});

test('--backend values are checked', () => {
  assert.equal(parseBackendName('wasm'), 'wasm');
  assert.throws(() => parseBackendName('gpu'), (err: Error) => err instanceof UserError && /expected auto, node, wasm, cpu/.test(err.message));
});

test('wasm finds its binary from any working directory', async () => {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const backend = pathToFileURL(fileURLToPath(new URL('../../training/backend/index.ts', import.meta.url))).href;
  const script = `const m = await import(${JSON.stringify(backend)}); const i = await m.selectBackend('wasm');` +
    `process.stdout.write(JSON.stringify([i.name, m.tf.getBackend(), m.tf.add(m.tf.scalar(2), m.tf.scalar(3)).dataSync()[0]]));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { cwd: os.tmpdir() });
  assert.deepEqual(JSON.parse(stdout), ['wasm', 'wasm', 5]);
});
