import {
  backend_util,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, callShipped, heapF32, release, view } from './call.ts';
import { col2im, flipTransposeFilter, geometryOf, im2colTransposed, patchLength, patchRows } from './im2col.ts';

type Shape4D = [number, number, number, number];

function requireNhwc(kernel: string, dataFormat: string): void {
  if (dataFormat !== 'NHWC') throw new Error(`${kernel} on wasm supports only NHWC, got ${dataFormat}`);
}

/**
 * Paddings for the filter gradient computed as a convolution (see below): x is padded as in the
 * forward pass, except that the bottom/right padding is cut to what the forward windows touched.
 * Null when rows or columns the forward pass never read would have to be cropped.
 */
export function filterGradPadding(info: backend_util.Conv2DInfo): [[number, number], [number, number]] | null {
  const bottom = info.filterHeight + (info.outHeight - 1) * info.strideHeight - info.inHeight - info.padInfo.top;
  const right = info.filterWidth + (info.outWidth - 1) * info.strideWidth - info.inWidth - info.padInfo.left;
  if (Math.min(bottom, right, info.padInfo.top, info.padInfo.left) < 0) return null;
  return [[info.padInfo.top, bottom], [info.padInfo.left, right]];
}

/**
 * dW[kh,kw,c,o] = sum over b,oh,ow of x[b, oh*s+kh, ow*s+kw, c] * dy[b,oh,ow,o] is itself a
 * convolution: of x seen as [C, H, W, B] (channels as batch, batch as channels) with dy seen as a
 * [OH, OW, B, O] filter dilated by the stride. That runs on the fast XNNPACK forward kernel, about
 * twice as fast as patches plus matmul. When it would need cropping, the patch path runs instead.
 */
function conv2dBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: BackendWasm; attrs: Conv2DBackpropFilterAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireNhwc('Conv2DBackpropFilter', attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(x.shape as Shape4D, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const pads = filterGradPadding(info);
  if (!pads || prefersPatches(info)) return filterGradByPatches(backend, x, dy, info, attrs.filterShape);
  const xT = callShipped(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = callShipped(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const dwT = callShipped(backend, 'Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1],
    pad: [[0, 0], pads[0], pads[1], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [info.strideHeight, info.strideWidth],
  });
  const dw = callShipped(backend, 'Transpose', { x: dwT }, { perm: [1, 2, 0, 3] });
  release(backend, xT, dyT, dwT);
  return dw;
}

/**
 * Seen as a convolution, the filter gradient of a layer with few input channels has as many
 * "images" as input channels and a kernel the size of the feature map, which XNNPACK runs slowly
 * (a 1-channel 28x28 input to 32 filters, batch 64: 24.5 ms, against 3.6 ms as patches + matmul).
 * With few output channels too, the convolution is still faster (1 -> 6 filters 5x5: 3.4 vs 7.0 ms).
 * Measured on the 2-core development machine; both paths have parity tests.
 */
export function prefersPatches(info: backend_util.Conv2DInfo): boolean {
  return info.inChannels <= 4 && info.outChannels >= 16;
}

/**
 * dW = patches(x)^T . dy as one matmul whose second operand is dy: the wasm matmul repacks its second
 * operand on every call (XNNPACK weights), so that operand must be the smaller one, and it is fast
 * only without transpose flags. So the patches are built already transposed, from x in channel-major
 * order, and the product [fh*fw*inC, N] x [N, outC] is the filter gradient in filter layout.
 */
function filterGradByPatches(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo, filterShape: Shape4D): TensorInfo {
  const g = geometryOf(info);
  const rows = patchRows(g);
  const len = patchLength(g);
  const xT = g.inChannels === 1 ? x : callShipped(backend, 'Transpose', { x }, { perm: [3, 0, 1, 2] });
  const colsT = allocate(backend, [len, rows]);
  im2colTransposed(heapF32(backend, xT), g, heapF32(backend, colsT));
  if (xT !== x) release(backend, xT);
  const dw = callShipped(backend, 'BatchMatMul', { a: colsT, b: view(dy, [rows, info.outChannels]) }, { transposeA: false, transposeB: false });
  release(backend, colsT);
  return view(dw, [...filterShape]);
}

/**
 * Paddings that make a stride-1 convolution of dy with the flipped filter produce exactly dx, or
 * null when that needs negative padding (then the general path runs).
 */
export function transposedPadding(info: backend_util.Conv2DInfo): [[number, number], [number, number]] | null {
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  const top = info.filterHeight - 1 - info.padInfo.top;
  const left = info.filterWidth - 1 - info.padInfo.left;
  const bottom = info.inHeight + info.filterHeight - 1 - info.outHeight - top;
  const right = info.inWidth + info.filterWidth - 1 - info.outWidth - left;
  if (Math.min(top, left, bottom, right) < 0) return null;
  return [[top, bottom], [left, right]];
}

/**
 * dx. Stride 1: a convolution of dy with the flipped, in/out-swapped filter on the fast XNNPACK
 * forward kernel. Otherwise: dy . W^T gives per-patch gradients that col2im scatters back.
 */
function conv2dBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: BackendWasm; attrs: Conv2DBackpropInputAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  requireNhwc('Conv2DBackpropInput', attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as Shape4D, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const { filterHeight: fh, filterWidth: fw, inChannels: inC, outChannels: outC } = info;

  const pads = transposedPadding(info);
  if (pads) {
    const flipped = allocate(backend, [fh, fw, outC, inC]);
    flipTransposeFilter(heapF32(backend, filter), fh, fw, inC, outC, heapF32(backend, flipped));
    const dx = callShipped(backend, 'Conv2D', { x: dy, filter: flipped }, {
      strides: [1, 1],
      pad: [[0, 0], pads[0], pads[1], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    });
    release(backend, flipped);
    return dx;
  }

  const g = geometryOf(info);
  const rows = patchRows(g);
  const len = patchLength(g);
  const wT = callShipped(backend, 'Transpose', { x: view(filter, [len, outC]) }, { perm: [1, 0] });
  const dcols = callShipped(backend, 'BatchMatMul', { a: view(dy, [rows, outC]), b: wT }, { transposeA: false, transposeB: false });
  const dx = allocate(backend, [...attrs.inputShape]);
  col2im(heapF32(backend, dcols), g, heapF32(backend, dx));
  release(backend, wT, dcols);
  return dx;
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
};

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInput as unknown as KernelFunc,
};
