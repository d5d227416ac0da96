import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels/index.ts';

/**
 * Loads tfjs-backend-wasm for Node. Its .wasm binaries are read from the installed package's dist/
 * folder by absolute file path (Emscripten reads local paths with fs in Node), so nothing is
 * fetched and the current working directory does not matter. Node has no SharedArrayBuffer-backed
 * Worker support for the threaded build, so the SIMD build runs on one thread.
 */
let prepared: Promise<void> | null = null;

export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

export function prepareWasm(): Promise<void> {
  prepared ??= (async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmBinaryDir());
    registerWasmTrainingKernels();
  })();
  return prepared;
}

export async function describeWasm(): Promise<string> {
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const kernels = WASM_TRAINING_KERNELS.map((k) => k.kernelName).join(', ');
  return `${simd ? 'SIMD' : 'no SIMD'}, 1 thread, edgeloom kernels: ${kernels}`;
}
