import { Cast, Identity, type CastAttrs, type IdentityInputs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, callShipped } from './call.ts';

/**
 * Identity without a copy: the output shares the input's buffer, with one more reference (what the
 * cpu back end does, and what the wasm back end's own Reshape does). The shipped kernel copies the
 * whole tensor, and tfjs gradients call it about ten times per batch-norm layer per step: on
 * customnet that was ~30 full-activation copies. Safe because no kernel writes into its inputs.
 */
function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function identity(args: { inputs: IdentityInputs; backend: BackendWasm }): TensorInfo {
  return share(args.backend, args.inputs.x as TensorInfo);
}

/**
 * Cast to the tensor's own dtype (tf.moments casts every batch-norm input) shares too. Casting to
 * bool maps every non-zero to 1, as the cpu back end does (the shipped kernel copied the raw value).
 */
function cast(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: CastAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (attrs.dtype === x.dtype) return share(backend, x);
  if (attrs.dtype === 'bool') {
    const out = allocate(backend, x.shape, 'bool');
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    for (let i = 0; i < src.length; i++) dst[i] = src[i] !== 0 ? 1 : 0;
    return out;
  }
  return callShipped(backend, Cast, { x }, attrs as unknown as Record<string, never>);
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};

export const castConfig: KernelConfig = {
  kernelName: Cast,
  backendName: 'wasm',
  kernelFunc: cast as unknown as KernelFunc,
};
