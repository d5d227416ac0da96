import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs';
import { rememberShipped } from './call.ts';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv-grad.ts';
import { castConfig, identityConfig } from './identity.ts';
import { maxPoolGradConfig } from './pool-grad.ts';
import { meanConfig, sumConfig } from './reduce.ts';
import { tileConfig } from './tile.ts';

/**
 * Training kernels for tfjs-backend-wasm: the ones it lacks (Conv2DBackpropFilter) and the ones it
 * ships too slow to train with (Conv2DBackpropInput, MaxPoolGrad, Tile, Sum and Mean over N,H,W,
 * and Identity and same-dtype Cast, which copied). The wasm back end's own kernels must already be
 * registered (import '@tensorflow/tfjs-backend-wasm' first).
 */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  maxPoolGradConfig,
  tileConfig,
  sumConfig,
  meanConfig,
  identityConfig,
  castConfig,
];

/** The configs this module registered (with the shipped setup functions attached). */
const ours = new Set<KernelConfig>();

/**
 * Registers the kernels; calling it again is a no-op. Returns the names of the kernels that were
 * registered by this call. Works before or after the wasm back end is initialised.
 */
export function registerWasmTrainingKernels(): string[] {
  const registered: string[] = [];
  for (const config of WASM_TRAINING_KERNELS) {
    const existing = getKernel(config.kernelName, 'wasm');
    if (existing && ours.has(existing)) continue;
    let replacement = config;
    if (existing) {
      rememberShipped(config.kernelName, existing.kernelFunc);
      // The shipped kernel binds its wasm function in setupFunc, run when the back end initialises;
      // ours falls back to it, so its setup must still run.
      replacement = { ...config, setupFunc: existing.setupFunc };
      // Replacing without unregistering first makes tfjs warn on the console.
      unregisterKernel(config.kernelName, 'wasm');
    }
    registerKernel(replacement);
    ours.add(replacement);
    registered.push(config.kernelName);
  }
  return registered;
}
