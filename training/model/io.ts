import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import type { ImageSet } from '../data/dataset.ts';
// Registers edgeloom's BatchNormalization and Conv2D (faster training gradients, same classes on
// disk) for the models loaded here.
import '../arch/batch-norm.ts';
import '../arch/conv2d.ts';

/**
 * TensorFlow.js layers models on disk, without tfjs-node: the standard `model.json` +
 * `weights.bin` pair (readable by tf.loadLayersModel and the tfjs converter), written atomically.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** What edgeloom adds to model.json under userDefinedMetadata.edgeloom. */
export interface EdgeloomModelMeta {
  arch: string;
  classNames: string[];
  /** Input is [N,28,28,1] with values pixel/255. */
  input: { shape: [number, number, number]; scale: string };
  outputs: { logits: string; embedding: string };
}

function joinWeightData(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (!data) return new ArrayBuffer(0);
  return tf.io.CompositeArrayBuffer.join(data);
}

/** Saves `model` into `dir` as model.json + weights.bin (weights first, model.json last). */
export async function saveTfjsModel(model: tf.LayersModel, dir: string, meta?: Omit<EdgeloomModelMeta, 'input' | 'outputs'>): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(joinWeightData(artifacts.weightData));
      await writeFileAtomic(join(dir, WEIGHTS_BIN), weights);
      const json = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: meta
          ? {
              edgeloom: {
                ...meta,
                input: { shape: [IMAGE_SIZE, IMAGE_SIZE, 1], scale: 'pixel/255' },
                outputs: { logits: 'logits', embedding: 'embedding' },
              } satisfies EdgeloomModelMeta,
            }
          : undefined,
      };
      await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
}

interface ModelJson {
  modelTopology?: object;
  weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  userDefinedMetadata?: { edgeloom?: EdgeloomModelMeta };
}

async function readModelJson(dir: string): Promise<ModelJson> {
  const path = join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`${path}: not found (expected a TensorFlow.js model directory written by edgeloom train)`);
  }
  try {
    const json = JSON.parse(text) as ModelJson;
    if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error('missing modelTopology or weightsManifest');
    return json;
  } catch (err) {
    throw new UserError(`${path}: not a TensorFlow.js layers model (${(err as Error).message})`);
  }
}

/** Loads a model directory written by saveTfjsModel (or any tfjs layers model with local weight files). */
export async function loadTfjsModel(dir: string): Promise<tf.LayersModel> {
  const json = await readModelJson(dir);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest!) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      try {
        buffers.push(await readFile(join(dir, p)));
      } catch {
        throw new UserError(`${join(dir, p)}: weight file listed in ${MODEL_JSON} is missing`);
      }
    }
  }
  const total = buffers.reduce((s, b) => s + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const b of buffers) {
    weightData.set(b, off);
    off += b.byteLength;
  }
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer }));
}

/** The edgeloom metadata of a saved model dir (arch, class names), or null for foreign models. */
/** Refuses a trained model (`--init`, `--distill`) whose classes are not the data set's, in order. */
export function checkSameClasses(origin: string, meta: EdgeloomModelMeta, classNames: readonly string[]): void {
  if (meta.classNames.join('|') !== classNames.join('|')) throw new UserError(`${origin}: its classes (${meta.classNames.join(', ')}) differ from the data set's`);
}

export async function readTfjsModelMeta(dir: string): Promise<EdgeloomModelMeta | null> {
  return (await readModelJson(dir)).userDefinedMetadata?.edgeloom ?? null;
}

/**
 * Logits of every image of `set`, row-major [count, numClasses], in inference mode (dropout off,
 * BatchNorm on moving statistics). Works for one-output models and for [logits, embedding] models.
 */
export function predictTfjs(model: tf.LayersModel, set: Pick<ImageSet, 'images' | 'count'>, batchSize = 256): Float32Array {
  let out: Float32Array | null = null;
  let width = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const n = Math.min(batchSize, set.count - start);
    const rows = tf.tidy(() => {
      const pixels = set.images.subarray(start * IMAGE_PIXELS, (start + n) * IMAGE_PIXELS);
      const x = tf.tensor4d(Float32Array.from(pixels), [n, IMAGE_SIZE, IMAGE_SIZE, 1]).div(255);
      const y = model.predict(x);
      return (Array.isArray(y) ? y[0] : y) as tf.Tensor;
    });
    const data = rows.dataSync() as Float32Array;
    width = rows.shape[1] as number;
    rows.dispose();
    out ??= new Float32Array(set.count * width);
    out.set(data, start * width);
  }
  return out ?? new Float32Array(0);
}
