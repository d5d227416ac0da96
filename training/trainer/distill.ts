import { IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import * as tf from '@tensorflow/tfjs';
import { checkSameClasses, loadTfjsModel, readTfjsModelMeta } from '../model/io.ts';

/** Knowledge distillation from a trained teacher (`--distill DIR`). */
export interface DistillConfig {
  /** The teacher: a trained edgeloom tfjs model directory (absolute path). */
  teacher: string;
  /** Share of the target taken from the teacher; the rest is the one-hot label. */
  weight: number;
  /** Softmax temperature of the teacher's probabilities (> 1 softens them). */
  temperature: number;
}

export const DISTILL_DEFAULTS = { weight: 0.5, temperature: 2 } as const;

export function validateDistill(cfg: DistillConfig): void {
  if (!(cfg.weight > 0 && cfg.weight <= 1)) throw new UserError(`--distill-weight: expected 0 < weight <= 1, got ${cfg.weight}`);
  if (!(cfg.temperature > 0 && Number.isFinite(cfg.temperature))) throw new UserError(`--distill-temperature: expected a positive number, got ${cfg.temperature}`);
}

/**
 * Training targets [n, K]: `(1 - weight) * onehot(label) + weight * softmax(teacherLogits / T)`.
 * The student's cross-entropy against them is the label loss plus `weight` times the distillation
 * loss (KL to the teacher, up to a constant), with the student at temperature 1. Pure.
 */
export function distillTargets(teacherLogits: Float32Array, labels: ArrayLike<number>, numClasses: number, weight: number, temperature: number): Float32Array {
  const n = labels.length;
  if (teacherLogits.length !== n * numClasses) throw new Error(`distillTargets: ${teacherLogits.length} logits for ${n} x ${numClasses}`);
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const row = teacherLogits.subarray(i * numClasses, (i + 1) * numClasses);
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++) max = Math.max(max, row[c]);
    let sum = 0;
    for (let c = 0; c < numClasses; c++) sum += Math.exp((row[c] - max) / temperature);
    for (let c = 0; c < numClasses; c++) out[i * numClasses + c] = (weight * Math.exp((row[c] - max) / temperature)) / sum;
    out[i * numClasses + labels[i]] += 1 - weight;
  }
  return out;
}

/** A frozen teacher model giving distillation targets for a batch's clean views. */
export class Teacher {
  private constructor(private readonly model: tf.LayersModel, readonly config: DistillConfig) {}

  static async load(config: DistillConfig, classNames: readonly string[]): Promise<Teacher> {
    validateDistill(config);
    const meta = await readTfjsModelMeta(config.teacher).catch((err: Error) => {
      throw new UserError(`--distill ${config.teacher}: ${err.message}`);
    });
    if (!meta) throw new UserError(`--distill ${config.teacher}: not an edgeloom tfjs model directory (model.json with edgeloom metadata)`);
    checkSameClasses(`--distill ${config.teacher}`, meta, classNames);
    return new Teacher(await loadTfjsModel(config.teacher), config);
  }

  /** Targets for `labels`, from the teacher's inference-mode logits on `pixels` (pixel/255, NHWC). */
  targets(pixels: Float32Array, labels: ArrayLike<number>, numClasses: number): Float32Array {
    const logits = tf.tidy(() => {
      const x = tf.tensor4d(pixels, [labels.length, IMAGE_SIZE, IMAGE_SIZE, 1]);
      const y = this.model.predict(x);
      return (Array.isArray(y) ? y[0] : y) as tf.Tensor;
    });
    try {
      return distillTargets(logits.dataSync() as Float32Array, labels, numClasses, this.config.weight, this.config.temperature);
    } finally {
      logits.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
