import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { decodeModel, tensorDims, tensorFloats, type TensorProto } from '../../src/onnx/proto.ts';
import { getArchitecture } from '../arch/index.ts';
import { PASS_THROUGH } from './convert.ts';
import { convKernelFromOnnx, flattenPerm } from './graph.ts';

/**
 * Reads the weights of an fp32 ONNX model written by `edgeloom export` (training/onnx/convert.ts)
 * back into its tfjs architecture, so `train --init model.onnx` can fine-tune it.
 *
 * Everything the ONNX graph computes comes back exactly; only how BatchNorm was parametrised does
 * not: the exporter folds BN into the preceding Conv/Dense (W' = W*g/sqrt(v+eps), b' = ...), and
 * (W, g, v) cannot be told apart from W' alone. Any BN parameters with g/sqrt(v+eps) = s and
 * beta - m*s = t give the same inference function, so we choose them from data: with m and v the
 * per-channel mean and variance of the BN's input on `calibration` images, g = s*sqrt(v+eps) and
 * beta = s*m + t. Inference is then the ONNX model's (tested against onnxruntime), and training-
 * mode BN (batch statistics close to m, v) starts where the parent left off instead of re-scaling
 * every channel on the first step.
 */
export interface OnnxWeights {
  arch: string;
  classes: string[];
  model: tf.LayersModel;
}

/** The fp32 parent of an int8 model, from its model card (`<name>.json` next to it, `parent.file`). */
function int8Parent(path: string): string | null {
  const card = join(dirname(path), `${basename(path, '.onnx')}.json`);
  try {
    const file = (JSON.parse(readFileSync(card, 'utf8')) as { parent?: { file?: unknown } }).parent?.file;
    return typeof file === 'string' ? join(dirname(path), basename(file)) : null;
  } catch {
    return null; // no card, or not JSON
  }
}

/**
 * `--init` of an int8 model whose fp32 parent (its card's `parent.file`) lies next to it: that
 * parent, the same network before its weights were rounded. So `--init models/default.onnx` works
 * as users type it; any other path is returned as it is.
 */
export async function fp32InitFor(path: string): Promise<string> {
  if (!path.endsWith('.onnx') || !existsSync(path)) return path;
  const meta = parseModelMetadata(await readFile(path), path);
  const parent = meta?.quantization ? int8Parent(path) : null;
  return parent && existsSync(parent) ? parent : path;
}

type Values = Map<string, Float32Array>;

/** BatchNorm statistics from this many images: per-channel means and variances settle well before. */
const CALIBRATION_IMAGES = 128;

type AnyLayer = tf.layers.Layer & { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] };

/** The NCHW-flatten permutation the exporter applied to a Dense kernel's rows, or null. */
function densePerm(layer: AnyLayer): Int32Array | null {
  let src = layer.inboundNodes[0]?.inboundLayers[0] as AnyLayer | undefined;
  while (src && PASS_THROUGH.has(src.getClassName())) src = src.inboundNodes[0]?.inboundLayers[0] as AnyLayer | undefined;
  if (!src || src.getClassName() !== 'Flatten') return null;
  const shape = (src.inboundNodes[0].inboundLayers[0].outputShape as (number | null)[]);
  if (shape.length !== 4) return null;
  return flattenPerm(shape[3]!, shape[1]!, shape[2]!);
}

function setLayerWeights(layer: tf.layers.Layer, values: Values, origin: string): void {
  layer.setWeights(layer.weights.map((w) => {
    const short = w.originalName.split('/').pop()!;
    const v = values.get(short);
    const size = (w.shape as number[]).reduce((a, b) => a * b, 1);
    // A file from another build of the architecture (or a hostile one) must not half-load.
    if (!v || v.length !== size) throw new UserError(`${origin}: layer ${layer.name}: weight ${short} has ${v?.length ?? 0} values, the architecture needs ${size} [${w.shape.join(',')}]`);
    return tf.tensor(v, w.shape as number[]);
  }));
}

/** Architecture and classes of an fp32 edgeloom ONNX model; a clear error for int8 and foreign files. */
export async function readOnnxInitMeta(path: string, origin = `--init ${path}`): Promise<{ arch: string; classes: string[] }> {
  return checkedMeta(await readFile(path), path, origin);
}

function checkedMeta(bytes: Uint8Array, path: string, origin: string): { arch: string; classes: string[] } {
  const meta = parseModelMetadata(bytes, origin);
  if (meta?.quantization) {
    const parent = int8Parent(path);
    throw new UserError(`${origin}: an int8 model (${meta.quantization.format} ${meta.quantization.target}); its weights are rounded and cannot be fine-tuned: use its fp32 ` +
      `parent${parent ? `, --init ${parent}` : ' (the model `edgeloom quantize` was run on)'}`);
  }
  if (!meta?.arch || !meta.classes) throw new UserError(`${origin}: no edgeloom metadata (arch, classes); --init reads ONNX models written by edgeloom export or train`);
  try {
    getArchitecture(meta.arch);
  } catch {
    throw new UserError(`${origin}: architecture "${meta.arch}" is not one edgeloom can train (an adopted model cannot be fine-tuned by edgeloom)`);
  }
  return { arch: meta.arch, classes: [...meta.classes] };
}

/**
 * Loads `path` into its architecture. `calibration`: grayscale 28x28 images (count*784) whose
 * statistics set the BatchNorm parameters (see above); a few hundred of the data to fine-tune on.
 */
export async function readOnnxWeights(path: string, calibration: Uint8Array, origin = `--init ${path}`): Promise<OnnxWeights> {
  const bytes = await readFile(path);
  const meta = checkedMeta(bytes, path, origin);
  const arch = getArchitecture(meta.arch);
  // tfjs names layers from a process-wide counter (conv2d_Conv2D7...), so the names in the file
  // need not match a fresh build's: weights are matched by order instead. The exporter adds a
  // layer's initializers as it converts the layers in model order: `<layer>/W`, `<layer>/B` for
  // Conv/Dense, `<layer>/bn_scale`, `<layer>/bn_shift` for a BatchNorm it could not fold.
  const inits = new Map<string, TensorProto>();
  const prefixes: string[] = [];
  for (const t of decodeModel(bytes).graph?.initializer ?? []) {
    const name = t.name ?? '';
    inits.set(name, t as TensorProto);
    const m = /^(.*)\/(W|B|bn_scale|bn_shift)$/.exec(name);
    if (m && prefixes.at(-1) !== m[1]) prefixes.push(m[1]);
  }
  let cursor = 0;
  const nextPrefix = (layer: tf.layers.Layer): string => {
    const p = prefixes[cursor];
    if (p === undefined || !inits.has(`${p}/W`)) throw new UserError(`${origin}: layer ${layer.name} has no counterpart in the file (expected a Conv or Gemm weight); the file does not ` +
      `match the ${meta.arch} architecture edgeloom builds today`);
    cursor++;
    return p;
  };
  const model = arch.build({ seed: 1, numClasses: meta.classes.length });
  const bnLayers: BnLayer[] = [];
  const pendingBias = new Map<string, Float32Array>();
  const need = (name: string): { dims: number[]; values: Float32Array } => {
    const t = inits.get(name);
    if (!t) throw new UserError(`${origin}: initializer ${name} not found`);
    try {
      return { dims: tensorDims(t), values: tensorFloats(t) };
    } catch (err) {
      throw new UserError(`${origin}: ${(err as Error).message} (an fp32 model from edgeloom export is needed)`);
    }
  };
  // A Conv or Dense without a bias of its own had the following BatchNorm folded into it: its B is that BN's shift.
  const setLinear = (layer: tf.layers.Layer, p: string, kernel: Float32Array): void => {
    const values: Values = new Map([['kernel', kernel]]);
    const B = need(`${p}/B`).values;
    if (layer.weights.some((w) => w.originalName.split('/').pop() === 'bias')) values.set('bias', B);
    else pendingBias.set(layer.name, B);
    setLayerWeights(layer, values, origin);
  };
  for (const layer of model.layers as AnyLayer[]) {
    const cls = layer.getClassName();
    if (cls === 'Conv2D') {
      const p = nextPrefix(layer);
      const W = need(`${p}/W`);
      const [o, i, kh, kw] = W.dims;
      setLinear(layer, p, convKernelFromOnnx(W.values, o, i, kh, kw));
    } else if (cls === 'Dense') {
      const p = nextPrefix(layer);
      const W = need(`${p}/W`);
      const units = W.dims[1];
      let kernel = W.values;
      const perm = densePerm(layer);
      if (perm) {
        kernel = new Float32Array(W.values.length);
        for (let j = 0; j < perm.length; j++) kernel.set(W.values.subarray(j * units, (j + 1) * units), perm[j] * units);
      }
      setLinear(layer, p, kernel);
    } else if (cls === 'BatchNormalization') {
      const n = layer.weights[0].shape[0]!; // gamma, beta and the moving statistics: one value per channel each
      const eps = Number((layer.getConfig() as { epsilon?: number }).epsilon ?? 1e-3);
      const p = prefixes[cursor];
      let s: Float32Array;
      let t: Float32Array;
      if (p !== undefined && inits.has(`${p}/bn_scale`)) {
        cursor++;
        s = need(`${p}/bn_scale`).values;
        t = need(`${p}/bn_shift`).values;
      } else {
        // Folded into the producer: identity scale, plus the producer's folded bias if it has no bias of its own.
        const producer = layer.inboundNodes[0].inboundLayers[0].name;
        s = new Float32Array(n).fill(1);
        t = pendingBias.get(producer) ?? new Float32Array(n);
      }
      // gamma and beta are computed from s and t: a shift of the wrong length would load as NaN or be cut short.
      if (s.length !== n || t.length !== n) throw new UserError(`${origin}: layer ${layer.name}: BatchNorm scale and shift have ${s.length} and ${t.length} values, the architecture needs ${n}`);
      bnLayers.push({ layer, s, t, eps });
    } else if (layer.weights.length > 0) {
      throw new UserError(`${origin}: layer ${layer.name} (${cls}) cannot be read back from ONNX`);
    }
  }
  if (cursor !== prefixes.length) throw new UserError(`${origin}: ${prefixes.length - cursor} weight tensor(s) left over; the file does not match the ${meta.arch} architecture edgeloom builds today`);
  // First the exact inference function with m = 0, v = 1 - eps, then the data's statistics.
  for (const b of bnLayers) setBatchNorm(b, new Float32Array(b.s.length), new Float32Array(b.s.length).fill(1 - b.eps), origin);
  if (bnLayers.length && calibration.length) calibrateBatchNorm(model, bnLayers, calibration, origin);
  return { arch: meta.arch, classes: [...meta.classes], model };
}

/** A BatchNorm layer of the architecture and the y = s*x + t it computes at inference. */
interface BnLayer { layer: tf.layers.Layer; s: Float32Array; t: Float32Array; eps: number }

/** BN parameters giving y = s*x + t at inference, with moving statistics (m, v). */
function setBatchNorm({ layer, s, t, eps }: BnLayer, m: Float32Array, v: Float32Array, origin: string): void {
  const n = s.length;
  const gamma = new Float32Array(n);
  const beta = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    gamma[c] = s[c] * Math.sqrt(v[c] + eps);
    beta[c] = s[c] * m[c] + t[c];
  }
  setLayerWeights(layer, new Map([['gamma', gamma], ['beta', beta], ['moving_mean', m], ['moving_variance', v]]), origin);
}

function calibrateBatchNorm(model: tf.LayersModel, bns: BnLayer[], images: Uint8Array, origin: string): void {
  const count = Math.min(images.length / IMAGE_PIXELS, CALIBRATION_IMAGES);
  const probe = tf.model({ inputs: model.inputs, outputs: bns.map((b) => b.layer.input as tf.SymbolicTensor) });
  const stats = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(images.subarray(0, count * IMAGE_PIXELS)), [count, IMAGE_SIZE, IMAGE_SIZE, 1]).div(255);
    const outs = probe.predict(x) as tf.Tensor | tf.Tensor[];
    return (Array.isArray(outs) ? outs : [outs]).map((o) => {
      const axes = o.shape.map((_, i) => i).slice(0, -1);
      const { mean, variance } = tf.moments(o, axes);
      return [mean.dataSync() as Float32Array, variance.dataSync() as Float32Array] as const;
    });
  });
  for (const [k, b] of bns.entries()) setBatchNorm(b, Float32Array.from(stats[k][0]), Float32Array.from(stats[k][1]), origin);
}
