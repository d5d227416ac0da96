import { Identity, type IdentityInputs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Identity without a copy: the output shares the input's buffer, with one more reference (what the
 * cpu back end does, and what the wasm back end's own Reshape does). The shipped kernel copies the
 * whole tensor, and tfjs gradients call it about ten times per batch-norm layer per step: on
 * customnet that was ~30 full-activation copies. Safe because no kernel writes into its inputs.
 */
function identity(args: { inputs: IdentityInputs; backend: BackendWasm }): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};
