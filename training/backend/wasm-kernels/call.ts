import { getKernel, type DataType, type KernelFunc, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Helpers for kernels that compose the wasm back end's own kernels. Kernels called this way bypass
 * the engine, so every intermediate they return must be released with `release`.
 */

/** The kernels tfjs-backend-wasm shipped, captured before we replace any of them. */
const shipped = new Map<string, KernelFunc>();

export function rememberShipped(kernelName: string, kernelFunc: KernelFunc): void {
  if (!shipped.has(kernelName)) shipped.set(kernelName, kernelFunc);
}

/** Runs the wasm back end's shipped kernel `kernelName` (not our replacement). */
export function callShipped(backend: BackendWasm, kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const kernelFunc = shipped.get(kernelName) ?? getKernel(kernelName, 'wasm')?.kernelFunc;
  if (!kernelFunc) throw new Error(`wasm kernel ${kernelName} is not registered`);
  return kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

/** The same data seen with another shape (no copy, no new reference: never release it). */
export function view(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/**
 * A Float32Array over a tensor's bytes in the wasm heap. Any allocation can grow (and so detach) the
 * heap, so take views only after the last makeOutput/kernel call that precedes their use.
 */
export function heapF32(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

export function allocate(backend: BackendWasm, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  return backend.makeOutput(shape, dtype);
}

export function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}
