import { basename } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { decodeModelFile, validateModelContract, type ModelContractInfo } from '../../src/onnx/contract.ts';
import { DEFAULT_PREPROCESSING, parseModelMetadata, writeModelMetadata, type AdoptionInfo, type EdgeloomModelMetadata } from '../../src/onnx/metadata.ts';
import { attr, encodeModel, floatTensor, floatValueInfo, getIntAttr, makeNode, tensorDims, valueInfoDims, DataType, type ModelProto, type NodeProto,
  type ValueInfoProto } from '../../src/onnx/proto.ts';

/**
 * Brings a classifier exported by PyTorch, Keras or any other tool to the edgeloom model contract
 * (docs/model-contract.md), in three phases like `edgeloom export`: inspect the graph's one input and
 * one output, rewire (rename to `input`/`logits`, transpose NHWC, take the logits in front of a final
 * Softmax, expose the penultimate tensor as `embedding`), then write the metadata. The weights are
 * untouched, so the model computes exactly what it did.
 */
export type OutputKind = 'auto' | 'logits' | 'probabilities';

export interface AdoptOptions {
  /** Class names in output order; default: the model's metadata, else Fashion-MNIST's for 10 outputs. */
  classes?: readonly string[];
  /** What the output holds; `auto` looks for a final Softmax. */
  outputKind?: OutputKind;
  /** Tensor to expose as `embedding`; default: the input of the final Gemm/MatMul; `none` for no embedding. */
  embedding?: string;
}

export const ADOPT_DEFAULTS: Required<Omit<AdoptOptions, 'classes' | 'embedding'>> = { outputKind: 'auto' };

export interface AdoptResult {
  bytes: Uint8Array;
  info: AdoptionInfo;
  numClasses: number;
}

/** Smallest probability taken to log for models that end in probabilities without a visible Softmax. */
const PROBABILITY_FLOOR = 1e-30;

interface Io {
  input: ValueInfoProto;
  layout: 'NCHW' | 'NHWC';
  output: ValueInfoProto;
  numClasses: number;
}

function fail(file: string, what: string): never {
  throw new UserError(`${file}: ${what}`);
}

/** Phase 1: the one float input of a 28x28 grey image and the one [N,C] float output. */
function inspect(model: ModelProto, file: string): Io {
  const graph = model.graph ?? fail(file, 'not an ONNX model (no graph)');
  const inits = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !inits.has(i.name));
  if (inputs.length !== 1) fail(file, `expected one image input, found ${inputs.length} (${inputs.map((i) => i.name).join(', ') || 'none'})`);
  const input = inputs[0];
  if (input.type?.tensorType?.elemType !== DataType.FLOAT) fail(file, `input \`${input.name}\` must be float32`);
  const d = valueInfoDims(input);
  const layout = d.length === 4 && d[1] === 1 && d[2] === IMAGE_SIZE && d[3] === IMAGE_SIZE ? 'NCHW' : d.length === 4 && d[1] === IMAGE_SIZE && d[2] === IMAGE_SIZE && d[3] === 1 ? 'NHWC' : null;
  if (!layout) fail(file, `input \`${input.name}\` has shape [${d.join(',')}], expected [N,1,28,28] or [N,28,28,1]`);
  const outputs = graph.output ?? [];
  const candidates = outputs.filter((o) => o.name !== 'embedding');
  if (candidates.length !== 1) fail(file, `expected one class-score output [N,C], found ${candidates.length} (${candidates.map((o) => o.name).join(', ')})`);
  const output = candidates[0];
  if (output.type?.tensorType?.elemType !== DataType.FLOAT) fail(file, `output \`${output.name}\` must be float32`);
  const od = valueInfoDims(output);
  if (od.length !== 2 || typeof od[1] !== 'number' || od[1] < 2) fail(file, `output \`${output.name}\` has shape [${od.join(',')}], expected [N,C] with a fixed C >= 2`);
  return { input, layout, output, numClasses: od[1] };
}

/** Renames a tensor everywhere it is named (nodes, graph inputs/outputs, value infos, initializers). */
function renameTensor(model: ModelProto, from: string, to: string): void {
  if (from === to) return;
  const g = model.graph!;
  for (const n of g.node ?? []) {
    n.input = (n.input ?? []).map((x) => (x === from ? to : x));
    n.output = (n.output ?? []).map((x) => (x === from ? to : x));
  }
  for (const list of [g.input, g.output, g.valueInfo, g.initializer]) for (const v of list ?? []) if (v.name === from) v.name = to;
}

/** Moves a tensor that happens to carry one of the contract's names out of the way. */
function freeName(model: ModelProto, name: string): void {
  const g = model.graph!;
  const used = (g.node ?? []).some((n) => [...(n.input ?? []), ...(n.output ?? [])].includes(name)) || (g.initializer ?? []).some((t) => t.name === name);
  if (used) renameTensor(model, name, `${name}/original`);
}

function producerOf(model: ModelProto, tensor: string): NodeProto | undefined {
  return (model.graph!.node ?? []).find((n) => (n.output ?? []).includes(tensor));
}

function consumers(model: ModelProto, tensor: string): NodeProto[] {
  return (model.graph!.node ?? []).filter((n) => (n.input ?? []).includes(tensor));
}

/** The class-score tensor as logits: in front of a final Softmax, or log(p) for bare probabilities. */
function logitsTensor(model: ModelProto, io: Io, kind: OutputKind, file: string): { tensor: string; kind: 'logits' | 'probabilities' } {
  const out = io.output.name!;
  const last = producerOf(model, out);
  const softmax = last && (last.opType === 'Softmax' || last.opType === 'LogSoftmax') && consumers(model, out).length === 0 ? last : undefined;
  if (kind === 'logits' || (kind === 'auto' && !softmax)) return { tensor: out, kind: 'logits' };
  if (softmax) {
    // Softmax over the class axis only: any other axis would not make its input per-class logits. The
    // default (1 before opset 13, -1 from 13 on) is the class axis of the [N,C] output either way.
    const axis = getIntAttr(softmax, 'axis', 1);
    if (axis !== 1 && axis !== -1) fail(file, `final ${softmax.opType} runs over axis ${axis}, expected the class axis (1)`);
    model.graph!.node = (model.graph!.node ?? []).filter((n) => n !== softmax);
    return { tensor: softmax.input![0], kind: 'probabilities' };
  }
  const g = model.graph!;
  g.initializer = [...(g.initializer ?? []), floatTensor('adopt/probability_floor', [], new Float32Array([PROBABILITY_FLOOR]))];
  g.node = [...(g.node ?? []),
    makeNode('Max', [out, 'adopt/probability_floor'], ['adopt/probabilities'], 'adopt/Max'),
    makeNode('Log', ['adopt/probabilities'], ['adopt/log_probabilities'], 'adopt/Log')];
  return { tensor: 'adopt/log_probabilities', kind: 'probabilities' };
}

/** The penultimate tensor: the data input of the Gemm/MatMul (optionally + Add) that makes the logits. */
function findEmbedding(model: ModelProto, logits: string): { tensor: string; width: number | null } | null {
  let node = producerOf(model, logits);
  if (node?.opType === 'Add') node = (node.input ?? []).map((t) => producerOf(model, t)).find((p) => p?.opType === 'MatMul');
  if (!node || (node.opType !== 'Gemm' && node.opType !== 'MatMul')) return null;
  const w = (model.graph!.initializer ?? []).find((t) => t.name === node!.input![1]);
  const dims = w ? tensorDims(w) : [];
  const width = dims.length === 2 ? (node.opType === 'Gemm' && getIntAttr(node, 'transB', 0) === 1 ? dims[1] : dims[0]) : null;
  return { tensor: node.input![0], width };
}

function classNamesFor(numClasses: number, opts: AdoptOptions, existing: Partial<EdgeloomModelMetadata> | null, file: string): string[] {
  const classes = opts.classes ? [...opts.classes] : existing?.classes ?? (numClasses === FASHION_MNIST_CLASSES.length ? [...FASHION_MNIST_CLASSES] : null);
  if (!classes) fail(file, `the model has ${numClasses} outputs; name its classes with --classes a,b,c (in output order)`);
  if (classes.length !== numClasses) fail(file, `--classes lists ${classes.length} classes (${classes.join(', ')}) but the model has ${numClasses} outputs`);
  if (new Set(classes).size !== classes.length || classes.some((c) => !c)) fail(file, '--classes: expected distinct, non-empty class names');
  return classes;
}

/** Phase 2 + 3: the model rewired to the contract, with edgeloom metadata. */
export function adoptModel(bytes: Uint8Array, path: string, opts: AdoptOptions = {}): AdoptResult {
  const file = basename(path);
  const model = decodeModelFile(bytes, file);
  const existing = parseModelMetadata(bytes, file);
  if (existing?.quantization) fail(file, 'already quantized; adopt the float model');
  const io = inspect(model, file);
  const g = model.graph!;
  const kind = opts.outputKind ?? ADOPT_DEFAULTS.outputKind;
  if (!['auto', 'logits', 'probabilities'].includes(kind)) fail(file, `--output-kind: expected auto, logits or probabilities, got "${kind}"`);

  // Inputs: one `input` [N,1,28,28]; an NHWC model gets a Transpose in front of its own first node.
  const originalInput = io.input.name!;
  // Read before renaming: io.output is the graph's own output entry, renamed in place to `logits`.
  const originalOutput = io.output.name!;
  // The class-score output too: one called `input` would clash with the renamed image input (and
  // io.output is renamed in place, so the scores are still found under their new name).
  for (const name of ['input', 'logits', 'embedding']) if (name !== originalInput) freeName(model, name);
  if (io.layout === 'NHWC') {
    const nhwc = originalInput === 'input' ? 'input/nhwc' : originalInput;
    renameTensor(model, originalInput, nhwc);
    g.node = [makeNode('Transpose', ['input'], [nhwc], 'adopt/Transpose', [attr('perm', [0, 2, 3, 1])]), ...(g.node ?? [])];
  } else {
    renameTensor(model, originalInput, 'input');
  }
  g.input = [floatValueInfo('input', ['N', 1, IMAGE_SIZE, IMAGE_SIZE]), ...(g.input ?? []).filter((i) => i !== io.input)];

  const scores = logitsTensor(model, io, kind, file);
  const embedding = opts.embedding === 'none' ? null : opts.embedding ? { tensor: opts.embedding, width: null } : findEmbedding(model, scores.tensor);
  if (embedding && !(g.node ?? []).some((n) => (n.output ?? []).includes(embedding.tensor))) fail(file, `--embedding ${embedding.tensor}: no node produces that tensor`);
  renameTensor(model, scores.tensor, 'logits');
  const outputs: ValueInfoProto[] = [floatValueInfo('logits', ['N', io.numClasses])];
  if (embedding) {
    const t = embedding.tensor === scores.tensor ? 'logits' : embedding.tensor;
    // 2-D already for a Gemm input; Flatten makes any other tensor [N, D] as the contract wants.
    g.node = [...(g.node ?? []), makeNode('Flatten', [t], ['embedding'], 'adopt/embedding/Flatten', [attr('axis', 1)])];
    outputs.push(floatValueInfo('embedding', ['N', embedding.width ?? 'D']));
  }
  g.output = outputs;
  // Shapes recorded for renamed or removed tensors would now be stale.
  g.valueInfo = [];

  const classes = classNamesFor(io.numClasses, opts, existing, file);
  const info: AdoptionInfo = { source: file, inputName: originalInput, inputLayout: io.layout, outputName: originalOutput, outputKind: scores.kind, embedding: embedding?.tensor ?? null };
  const meta: Partial<EdgeloomModelMetadata> = { ...(existing ?? {}), arch: existing?.arch ?? 'foreign', classes, preprocessing: DEFAULT_PREPROCESSING, adopted: info };
  return { bytes: writeModelMetadata(encodeModel(model), meta), info, numClasses: io.numClasses };
}

/** One line for logs: what adoption did to a model. */
export function describeAdoption(info: AdoptionInfo): string {
  const parts = [
    `input \`${info.inputName}\` ${info.inputLayout}${info.inputLayout === 'NHWC' ? ' (transposed)' : ''}`,
    `output \`${info.outputName}\` as ${info.outputKind}${info.outputKind === 'probabilities' ? ' (logits taken in front of the softmax, or log p)' : ''}`,
    info.embedding ? `embedding from \`${info.embedding}\`` : 'no embedding (no drift OOD score)',
  ];
  return parts.join('; ');
}

/**
 * The bytes `evaluate`, `quantize`, `compare` and `robustness` run: an edgeloom model as it is (an
 * `embedding` output is optional for them), any other classifier adopted in memory with a warning
 * that says what was done and how to do it once for good.
 */
export function modelForTools(bytes: Uint8Array, path: string, opts: AdoptOptions = {}, warn: (line: string) => void = () => {}): { bytes: Uint8Array; info: ModelContractInfo;
  adopted: AdoptionInfo | null } {
  const ours = parseModelMetadata(bytes, basename(path)) !== null;
  if (ours) {
    // An edgeloom model that breaks the contract is a bug to report as is, not something to rewire.
    const info = validateModelContract(bytes, path, { requireEmbedding: false });
    if (opts.classes || opts.outputKind || opts.embedding) warn(`${basename(path)}: an edgeloom model; --classes, --output-kind and --embedding apply to foreign models only and are ignored`);
    return { bytes, info, adopted: null };
  }
  const adopted = adoptModel(bytes, path, opts);
  warn(`${basename(path)}: not an edgeloom model, adopted in memory: ${describeAdoption(adopted.info)}. \`edgeloom adopt --model ${path} --out OUT.onnx\` does this once (the agent needs it)`);
  return { bytes: adopted.bytes, info: validateModelContract(adopted.bytes, path, { requireEmbedding: false }), adopted: adopted.info };
}
