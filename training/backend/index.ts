import * as tf from '@tensorflow/tfjs';

export type BackendName = 'auto' | 'node' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The back end that actually runs: node, wasm or cpu. */
  name: Exclude<BackendName, 'auto'>;
  /** Why it was chosen (shown in logs and reports). */
  reason: string;
}

/**
 * Chooses the TensorFlow.js back end. `auto` prefers @tensorflow/tfjs-node (native libtensorflow)
 * when installed, then wasm, then the pure-JS cpu back end.
 * TODO(backend helper): wasm training kernels; node detection.
 */
export async function selectBackend(requested: BackendName = 'auto'): Promise<BackendInfo> {
  if (requested === 'cpu' || requested === 'auto') {
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', reason: requested === 'cpu' ? 'requested' : 'fallback' };
  }
  throw new Error(`backend ${requested} not available yet`);
}

export { tf };
