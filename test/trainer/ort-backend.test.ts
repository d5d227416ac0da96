import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { BackendInfo } from '../../training/backend/index.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { stepsOnOrt, tfjsBackendFor } from '../../training/trainer/ort-step.ts';
import { captureLog } from '../helpers/capture-log.ts';

/** Which back end trains (training/trainer/ort-step.ts): the one rule train, cv, search and reproduce share. */

const wasm: BackendInfo = { name: 'wasm', reason: 'auto' };
const node: BackendInfo = { name: 'node', reason: 'auto' };
const customnet = resolveConfig({ arch: 'customnet' });

test('--backend ort starts tfjs on its best back end (for evaluation and export); the tfjs names pass through; others are refused naming ort too', () => {
  assert.equal(tfjsBackendFor('ort'), 'auto');
  for (const name of ['auto', 'node', 'wasm', 'cpu'] as const) assert.equal(tfjsBackendFor(name), name);
  assert.throws(() => tfjsBackendFor('gpu'), (e: unknown) => e instanceof UserError && e.message === '--backend: unknown back end "gpu" (expected auto, node, wasm, cpu, ort)');
  assert.throws(() => tfjsBackendFor('ORT'), UserError);
});

test('the steps run on onnxruntime for ort, and for auto unless tfjs-node runs; never for an explicit tfjs back end', async () => {
  const { value, lines } = await captureLog(async () => {
    const log = createLogger('t');
    return {
      ort: stepsOnOrt('ort', node, customnet, log),
      autoWasm: stepsOnOrt('auto', wasm, customnet, log),
      autoNode: stepsOnOrt('auto', node, customnet, log),
      wasm: stepsOnOrt('wasm', wasm, customnet, log),
      cpu: stepsOnOrt('cpu', { name: 'cpu', reason: 'requested' }, customnet, log),
      node: stepsOnOrt('node', node, customnet, log),
    };
  });
  assert.deepEqual(value, { ort: true, autoWasm: true, autoNode: false, wasm: false, cpu: false, node: false });
  // (tfjs prints its own banner the first time a model is built: only our logger's lines count.)
  assert.deepEqual(lines.filter((l) => l.includes('[t]')), []);
});

test('auto trains on tfjs, with one line saying why, an architecture the step cannot differentiate', async () => {
  const why = '--backend ort: layer squash (Dense): activation sigmoid is not supported by the onnxruntime training step yet; use --backend wasm';
  const seen: string[] = [];
  const { value, lines } = await captureLog(async () =>
    stepsOnOrt('auto', wasm, customnet, createLogger('t'), (c) => {
      seen.push(c.arch);
      return why;
    }),
  );
  assert.equal(value, false);
  assert.deepEqual(seen, ['customnet']);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /info +\[t\]/);
  assert.match(lines[0], /--backend auto: training customnet on wasm, not ort \(--backend ort: layer squash \(Dense\): activation sigmoid/);
  // --backend ort is not second-guessed: the step itself refuses the layer when it is built.
  assert.equal(stepsOnOrt('ort', wasm, customnet, createLogger('t'), () => why), true);
});
