import { IMAGE_SIZE } from '../classes.ts';
import { basename } from 'node:path';
import { UserError } from '../errors.ts';
import { decodeModel, DataType, valueInfoDims, type ModelProto, type ValueInfoProto } from './proto.ts';
import { parseModelMetadata, type EdgeloomModelMetadata } from './metadata.ts';

/**
 * The edgeloom model contract (docs/model-contract.md): input `input` float32 [N,1,28,28] (pixel/255),
 * outputs `logits` float32 [N,K] and `embedding` float32 [N,D], K class names in the metadata.
 * The device refuses any file that breaks it, with one line naming the file and the problem.
 */
export interface ModelContractInfo {
  numClasses: number;
  embeddingSize: number | null;
  metadata: Partial<EdgeloomModelMetadata> & { classes: string[] };
}

function isDynamic(d: number | string): boolean {
  return typeof d === 'string';
}

function describe(dims: (number | string)[]): string {
  return `[${dims.join(',')}]`;
}

function checkFloat(v: ValueInfoProto, what: string, file: string): void {
  const elem = v.type?.tensorType?.elemType;
  if (elem !== DataType.FLOAT) throw new UserError(`${file}: ${what} \`${v.name}\` must be float32 (found ONNX data type ${elem ?? 'none'})`);
}

/** Decodes an ONNX file, or a one-line UserError naming it. */
export function decodeModelFile(bytes: Uint8Array, file: string): ModelProto {
  try {
    return decodeModel(bytes);
  } catch (err) {
    throw new UserError(`${file}: not an ONNX model (${(err as Error).message})`);
  }
}

export interface ContractOptions {
  /** The agent needs `embedding` for drift; evaluation and quantization do not (default true). */
  requireEmbedding?: boolean;
}

/** Where a foreign classifier is told to go: `edgeloom adopt` rewires it to this contract. */
const ADOPT_HINT = 'bring an exported PyTorch/Keras classifier to the edgeloom contract with `edgeloom adopt --model IN.onnx --out OUT.onnx`';

export function validateModelContract(bytes: Uint8Array, path: string, opts: ContractOptions = {}): ModelContractInfo {
  const file = basename(path);
  const model = decodeModelFile(bytes, file);
  const graph = model.graph;
  if (!graph) throw new UserError(`${file}: not an ONNX model (no graph)`);
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  const input = inputs.find((i) => i.name === 'input');
  if (!input) throw new UserError(`${file}: missing input \`input\` (found ${inputs.map((i) => `\`${i.name}\``).join(', ') || 'none'}); ${ADOPT_HINT}`);
  if (inputs.length !== 1) throw new UserError(`${file}: expected exactly one input \`input\`, found ${inputs.length}`);
  checkFloat(input, 'input', file);
  const inDims = valueInfoDims(input);
  const inOk = inDims.length === 4 && inDims[1] === 1 && inDims[2] === IMAGE_SIZE && inDims[3] === IMAGE_SIZE;
  if (!inOk) throw new UserError(`${file}: input \`input\` has shape ${describe(inDims)}, expected [N,1,28,28] (NCHW)`);

  const outputs = graph.output ?? [];
  const logits = outputs.find((o) => o.name === 'logits');
  const embedding = outputs.find((o) => o.name === 'embedding');
  if (!logits) throw new UserError(`${file}: missing output \`logits\` (found ${outputs.map((o) => `\`${o.name}\``).join(', ') || 'none'}); ${ADOPT_HINT}`);
  if (!embedding && (opts.requireEmbedding ?? true)) throw new UserError(`${file}: missing output \`embedding\` (found ` +
    `${outputs.map((o) => `\`${o.name}\``).join(', ')}); ${ADOPT_HINT} (--embedding TENSOR names the penultimate layer)`);
  checkFloat(logits, 'output', file);
  if (embedding) checkFloat(embedding, 'output', file);
  const lDims = valueInfoDims(logits);
  if (lDims.length !== 2 || isDynamic(lDims[1])) throw new UserError(`${file}: output \`logits\` has shape ${describe(lDims)}, expected [N,K] with a fixed K`);
  const eDims = embedding ? valueInfoDims(embedding) : [];
  if (embedding && eDims.length !== 2) throw new UserError(`${file}: output \`embedding\` has shape ${describe(eDims)}, expected [N,D]`);
  const numClasses = lDims[1] as number;

  const meta = parseModelMetadata(bytes, file);
  if (!meta) throw new UserError(`${file}: no edgeloom metadata (export it with \`edgeloom export\`, or ${ADOPT_HINT})`);
  const classes = meta.classes;
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string' && c.length > 0)) {
    throw new UserError(`${file}: metadata edgeloom.classes must be a JSON array of non-empty class names`);
  }
  if (new Set(classes).size !== classes.length) throw new UserError(`${file}: metadata edgeloom.classes has duplicate names`);
  if (classes.length !== numClasses) {
    throw new UserError(`${file}: metadata edgeloom.classes lists ${classes.length} classes but output \`logits\` has ${numClasses}`);
  }
  const pre = meta.preprocessing;
  if (pre && (pre.layout !== 'NCHW' || pre.height !== IMAGE_SIZE || pre.width !== IMAGE_SIZE || pre.channels !== 1)) {
    throw new UserError(`${file}: metadata edgeloom.preprocessing describes ${pre.layout} ${pre.channels}x${pre.height}x${pre.width}, expected NCHW 1x28x28`);
  }
  return { numClasses, embeddingSize: embedding && typeof eDims[1] === 'number' ? eDims[1] : null, metadata: { ...meta, classes } };
}
