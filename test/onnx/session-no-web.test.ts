import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { UserError } from '../../src/errors.ts';
import { buildModel } from './session-model.ts';

// onnxruntime-web made unresolvable (an install without it): session.ts imports it only when a wasm session is asked for.
register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'onnxruntime-web') {
    throw Object.assign(new Error("Cannot find package 'onnxruntime-web' (hidden by the test)\\nsecond line"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return nextResolve(specifier, context);
}`));

test('--ep wasm without onnxruntime-web: a UserError naming the fix, with the first line of the reason', async () => {
  const expected = "--ep wasm: onnxruntime-web cannot load (Cannot find package 'onnxruntime-web' (hidden by the test)); install it with npm run install-board or npm ci";
  await assert.rejects(createOnnxSession(buildModel(), { ep: 'wasm' }), (e: Error) => e instanceof UserError && e.message === expected);
});
