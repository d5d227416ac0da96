/**
 * Formulations of a convolution's training work on onnxruntime (cpu), timed apart for customnet's
 * three 3x3 'same' convolutions at batch 64 (weights are graph inputs, as in a training step, so no
 * constant-weight optimisation such as NCHWc applies):
 *   nchw:      Conv forward; input gradient as ConvTranspose; filter gradient as a Conv of x seen
 *              as [C, N, H, W] with dy seen as an [O, N, H, W] filter (batch as channels)
 *   nchw-flip: input gradient as a Conv of dy with the flipped, transposed filter
 *   chwn-gemm: the step graph's form (training/ort/step-graph.ts): activations [C, H, W, N],
 *              patches by one Gather, forward W x patches, filter gradient dy x patchesᵀ, input
 *              gradient over the patches of dy
 *   chwn-3d:   [C, H, W, N] seen as one 3-D image [1, C, H, W, N], 3x3x1 kernel: onnxruntime's
 *              Conv forward and ConvTranspose input gradient on the step's layout
 *   nhwc-gemm: the same with activations [N, H, W, C] (C innermost): patch rows per pixel
 *              ("im2row"), so the big matrix is GEMM's first operand and the weights its second
 *   node --import tsx scripts/bench/ort-conv-forms.ts [--batch 64] [--threads 1] [--runs 20]   (fastest of the runs)
 */
import { parseArgs } from 'node:util';
import { attr, DataType, encodeModel, floatValueInfo, int64Tensor } from '../../src/onnx/proto.ts';
import { createGraphSession, type FloatTensor } from '../../src/onnx/session.ts';
import { GraphBuilder } from '../../training/onnx/graph.ts';
import { isMain } from './common.ts';

const LAYERS = [
  { name: 'conv1', c: 1, o: 32, hw: 28 },
  { name: 'conv2', c: 32, o: 64, hw: 14 },
  { name: 'conv3', c: 64, o: 128, hw: 7 },
] as const;

type Piece = 'forward' | 'input grad' | 'filter grad';
interface Input { name: string; dims: number[] }
interface PieceGraph { inputs: Input[]; build(g: GraphBuilder): string }

const conv3x3 = [attr('kernel_shape', [3, 3]), attr('pads', [1, 1, 1, 1])];

function nchw(n: number, c: number, o: number, hw: number, flip: boolean): Record<Piece, PieceGraph> {
  const x = { name: 'x', dims: [n, c, hw, hw] };
  const dy = { name: 'dy', dims: [n, o, hw, hw] };
  const w = { name: 'w', dims: [o, c, 3, 3] };
  return {
    forward: { inputs: [x, w], build: (g) => g.node('Conv', ['x', 'w'], 'out', conv3x3).output },
    'input grad': {
      inputs: [dy, w],
      build: (g) => {
        if (!flip) return g.node('ConvTranspose', ['dy', 'w'], 'out', conv3x3).output;
        const t = g.node('Transpose', ['w'], 'wt', [attr('perm', [1, 0, 2, 3])]).output;
        const rev = g.addInt64('rev', [2, 1, 0]);
        const f = g.node('Gather', [g.node('Gather', [t, rev], 'wf1', [attr('axis', 2)]).output, rev], 'wf', [attr('axis', 3)]).output;
        return g.node('Conv', ['dy', f], 'out', conv3x3).output;
      },
    },
    'filter grad': {
      inputs: [x, dy],
      build: (g) => {
        const xt = g.node('Transpose', ['x'], 'xt', [attr('perm', [1, 0, 2, 3])]).output;
        const dyt = g.node('Transpose', ['dy'], 'dyt', [attr('perm', [1, 0, 2, 3])]).output;
        const dw = g.node('Conv', [xt, dyt], 'dwt', [attr('kernel_shape', [hw, hw]), attr('pads', [1, 1, 1, 1])]).output;
        return g.node('Transpose', [dw], 'out', [attr('perm', [1, 0, 2, 3])]).output;
      },
    },
  };
}

/** Patches [c*9, hw*hw*n] of a [c, hw*hw*n] tensor (the step graph's method, repeated here for timing alone). */
function patches(g: GraphBuilder, x: string, c: number, hw: number, n: number): string {
  const padded = g.node('Pad', [g.node('Reshape', [x, g.addInt64('s', [c, hw, hw, n])], 'x4').output, g.addInt64('pads', [0, 1, 1, 0, 0, 1, 1, 0])], 'xp').output;
  const rows = g.node('Reshape', [padded, g.addInt64('s', [c, (hw + 2) * (hw + 2), n])], 'rows').output;
  const idx: number[] = [];
  for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) for (let y = 0; y < hw; y++) for (let xx = 0; xx < hw; xx++) idx.push((y + ky) * (hw + 2) + xx + kx);
  const name = g.uniqueName('idx');
  g.initializers.set(name, int64Tensor(name, [9, hw * hw], idx));
  const gathered = g.node('Gather', [rows, name], 'gather', [attr('axis', 1)]).output;
  return g.node('Reshape', [gathered, g.addInt64('s', [c * 9, hw * hw * n])], 'patches').output;
}

function chwn(n: number, c: number, o: number, hw: number): Record<Piece, PieceGraph> {
  const x = { name: 'x', dims: [c, hw * hw * n] };
  const dy = { name: 'dy', dims: [o, hw * hw * n] };
  const w = { name: 'w', dims: [o, c * 9] };
  return {
    forward: { inputs: [x, w], build: (g) => g.node('MatMul', ['w', patches(g, 'x', c, hw, n)], 'out').output },
    'input grad': {
      inputs: [dy, w],
      build: (g) => {
        const rev = g.addInt64('rev', [8, 7, 6, 5, 4, 3, 2, 1, 0]);
        const f = g.node('Gather', [g.node('Reshape', ['w', g.addInt64('s', [o, c, 9])], 'w3').output, rev], 'wf', [attr('axis', 2)]).output;
        const wt = g.node('Reshape', [g.node('Transpose', [f], 'wft', [attr('perm', [1, 0, 2])]).output, g.addInt64('s', [c, o * 9])], 'wt').output;
        return g.node('MatMul', [wt, patches(g, 'dy', o, hw, n)], 'out').output;
      },
    },
    'filter grad': { inputs: [x, dy], build: (g) => g.node('Gemm', ['dy', patches(g, 'x', c, hw, n)], 'out', [attr('transB', 1)]).output },
  };
}

/** Patch rows [n*hw*hw, 9*c] of an [n*hw*hw, c] tensor; `flip` rotates the window by 180°. */
function rowPatches(g: GraphBuilder, x: string, c: number, hw: number, n: number, flip: boolean): string {
  const padded = g.node('Pad', [g.node('Reshape', [x, g.addInt64('s', [n, hw, hw, c])], 'x4').output, g.addInt64('pads', [0, 1, 1, 0, 0, 1, 1, 0])], 'xp').output;
  const rows = g.node('Reshape', [padded, g.addInt64('s', [n, (hw + 2) * (hw + 2), c])], 'rows').output;
  const idx: number[] = [];
  for (let y = 0; y < hw; y++) for (let xx = 0; xx < hw; xx++) for (let k = 0; k < 9; k++) {
    const kk = flip ? 8 - k : k;
    idx.push((y + Math.floor(kk / 3)) * (hw + 2) + xx + (kk % 3));
  }
  const name = g.uniqueName('idx');
  g.initializers.set(name, int64Tensor(name, [hw * hw, 9], idx));
  const gathered = g.node('Gather', [rows, name], 'gather', [attr('axis', 1)]).output;
  return g.node('Reshape', [gathered, g.addInt64('s', [n * hw * hw, 9 * c])], 'patches').output;
}

function nhwc(n: number, c: number, o: number, hw: number): Record<Piece, PieceGraph> {
  const x = { name: 'x', dims: [n * hw * hw, c] };
  const dy = { name: 'dy', dims: [n * hw * hw, o] };
  const w = { name: 'w', dims: [9 * c, o] };
  return {
    forward: { inputs: [x, w], build: (g) => g.node('MatMul', [rowPatches(g, 'x', c, hw, n, false), 'w'], 'out').output },
    'input grad': {
      inputs: [dy, w],
      build: (g) => {
        const w3 = g.node('Reshape', ['w', g.addInt64('s', [9, c, o])], 'w3').output;
        const wt = g.node('Reshape', [g.node('Transpose', [w3], 'wt3', [attr('perm', [0, 2, 1])]).output, g.addInt64('s', [9 * o, c])], 'wt').output;
        return g.node('MatMul', [rowPatches(g, 'dy', o, hw, n, true), wt], 'out').output;
      },
    },
    'filter grad': { inputs: [x, dy], build: (g) => g.node('Gemm', [rowPatches(g, 'x', c, hw, n, false), 'dy'], 'out', [attr('transA', 1)]).output },
  };
}

/** The [C, H, W, N] layout seen as one 3-D image [1, C, H, W, N] with a 3x3x1 kernel: onnxruntime's own Conv/ConvTranspose (im2col/col2im) on it. */
function chwn3d(n: number, c: number, o: number, hw: number): Record<Piece, PieceGraph> {
  const x = { name: 'x', dims: [1, c, hw, hw, n] };
  const dy = { name: 'dy', dims: [1, o, hw, hw, n] };
  const w = { name: 'w', dims: [o, c * 9] };
  const attrs = [attr('kernel_shape', [3, 3, 1]), attr('pads', [1, 1, 0, 1, 1, 0])];
  const w5 = (g: GraphBuilder) => g.node('Reshape', ['w', g.addInt64('s', [o, c, 3, 3, 1])], 'w5').output;
  return {
    forward: { inputs: [x, w], build: (g) => g.node('Conv', ['x', w5(g)], 'out', attrs).output },
    'input grad': { inputs: [dy, w], build: (g) => g.node('ConvTranspose', ['dy', w5(g)], 'out', attrs).output },
    'filter grad': {
      inputs: [x, dy],
      build: (g) => {
        const dy2 = g.node('Reshape', ['dy', g.addInt64('s', [o, hw * hw * n])], 'dy2').output;
        return g.node('Gemm', [dy2, patches(g, 'x', c, hw, n)], 'out', [attr('transB', 1)]).output;
      },
    },
  };
}

async function timePiece(piece: PieceGraph, threads: number, runs: number): Promise<number> {
  const g = new GraphBuilder();
  for (const i of piece.inputs) g.reserve(i.name);
  const out = piece.build(g);
  const bytes = encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'piece',
      node: g.nodes,
      initializer: g.initializerProtos(),
      input: piece.inputs.map((i) => floatValueInfo(i.name, i.dims)),
      output: [{ name: out, type: { tensorType: { elemType: DataType.FLOAT } } }],
    },
  });
  const session = await createGraphSession(bytes, { intraOpThreads: threads });
  const feeds: Record<string, FloatTensor> = {};
  for (const i of piece.inputs) feeds[i.name] = { data: Float32Array.from({ length: i.dims.reduce((a, b) => a * b, 1) }, () => Math.random() - 0.5), dims: i.dims };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await session.run(feeds);
    times.push(performance.now() - start);
  }
  await session.close();
  // The fastest run: other processes on a small machine only ever slow a run down.
  return Math.min(...times);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { batch: { type: 'string', default: '64' }, threads: { type: 'string', default: '1' }, runs: { type: 'string', default: '20' } } });
  const [n, threads, runs] = [Number(values.batch), Number(values.threads), Number(values.runs)];
  const forms: Record<string, (c: number, o: number, hw: number) => Record<Piece, PieceGraph>> = {
    nchw: (c, o, hw) => nchw(n, c, o, hw, false),
    'nchw-flip': (c, o, hw) => nchw(n, c, o, hw, true),
    'chwn-gemm': (c, o, hw) => chwn(n, c, o, hw),
    'nhwc-gemm': (c, o, hw) => nhwc(n, c, o, hw),
    'chwn-3d': (c, o, hw) => chwn3d(n, c, o, hw),
  };
  const lines = ['| form | piece | conv1 ms | conv2 ms | conv3 ms | total ms |', '| --- | --- | ---: | ---: | ---: | ---: |'];
  for (const [form, make] of Object.entries(forms)) {
    for (const piece of ['forward', 'input grad', 'filter grad'] as Piece[]) {
      if ((form === 'nchw-flip' && piece !== 'input grad') || (form === 'chwn-3d' && piece === 'filter grad')) continue;
      const ms: number[] = [];
      for (const l of LAYERS) ms.push(await timePiece(make(l.c, l.o, l.hw)[piece], threads, runs));
      lines.push(`| ${form} | ${piece} | ${ms.map((m) => m.toFixed(2)).join(' | ')} | ${ms.reduce((a, b) => a + b, 0).toFixed(2)} |`);
    }
  }
  process.stdout.write(`batch ${n}, ${threads} thread(s), fastest of ${runs} runs (conv1's input gradient is never needed in training)\n\n${lines.join('\n')}\n`);
}

if (isMain(import.meta.url)) {
  await main();
}
