// Preloaded with `node --import` by test/board/wasm.test.ts: makes `onnxruntime-node` unresolvable,
// as on a board it has no binary for (32-bit ARM), so `--ep auto` must fall back to onnxruntime-web.
import { register } from 'node:module';

register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'onnxruntime-node') {
    throw Object.assign(new Error("Cannot find package 'onnxruntime-node' (hidden by test/board/hide-onnxruntime-node.mjs)"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return nextResolve(specifier, context);
}`));
