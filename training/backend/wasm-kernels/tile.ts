import { Tile, util, type KernelConfig, type KernelFunc, type TensorInfo, type TileAttrs } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, callShipped } from './call.ts';

type NumericArray = Float32Array | Int32Array | Uint8Array;

/**
 * Writes `x` (shape `shape`) tiled `reps` times along each axis into `out`. Each axis is built once
 * and then replicated by doubling copyWithin, so the cost is one memmove of the output; the shipped
 * wasm Tile computes every output index separately and dominated batch-norm gradients.
 */
export function tileInto(x: NumericArray, shape: readonly number[], reps: readonly number[], out: NumericArray): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0];
    return;
  }
  const srcStrides = new Array<number>(rank);
  const dstStrides = new Array<number>(rank);
  srcStrides[rank - 1] = 1;
  dstStrides[rank - 1] = 1;
  for (let a = rank - 2; a >= 0; a--) {
    srcStrides[a] = srcStrides[a + 1] * shape[a + 1];
    dstStrides[a] = dstStrides[a + 1] * shape[a + 1] * reps[a + 1];
  }
  const fill = (axis: number, src: number, dst: number): void => {
    const n = shape[axis];
    if (axis === rank - 1) {
      for (let i = 0; i < n; i++) out[dst + i] = x[src + i];
    } else {
      for (let i = 0; i < n; i++) fill(axis + 1, src + i * srcStrides[axis], dst + i * dstStrides[axis]);
    }
    replicate(out, dst, n * dstStrides[axis], reps[axis]);
  };
  fill(0, 0, 0);
}

/** Repeats the block out[start, start + len) so that it occurs `times` times back to back. */
function replicate(out: NumericArray, start: number, len: number, times: number): void {
  const total = len * times;
  let done = len;
  while (done < total) {
    const n = Math.min(done, total - done);
    out.copyWithin(start + done, start, start + n);
    done += n;
  }
}

function tile(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: TileAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string' || x.dtype === 'complex64') return callShipped(backend, Tile, { x }, { reps: attrs.reps });
  const outShape = x.shape.map((d, i) => d * attrs.reps[i]);
  const out = allocate(backend, outShape, x.dtype);
  if (util.sizeFromShape(outShape) > 0) {
    tileInto(backend.typedArrayFromHeap(x) as NumericArray, x.shape, attrs.reps, backend.typedArrayFromHeap(out) as NumericArray);
  }
  return out;
}

export const tileConfig: KernelConfig = { kernelName: Tile, backendName: 'wasm', kernelFunc: tile as unknown as KernelFunc };
