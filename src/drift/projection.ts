import { createRng } from '../random.ts';

/**
 * A seeded very sparse random projection (Li, Hastie & Church 2006) of a wide embedding before the
 * Mahalanobis statistics. Without it the profile of a model whose penultimate layer is wide grows
 * with the square of the width: customnet's 6,272-wide `embedding` needed a 6,272² covariance
 * inverted six times in JavaScript (13+ minutes, 1.2 GB) and a 39 MB whitening matrix that a board
 * would multiply with every frame. A PCA basis fitted on the reference set would keep the variance
 * directions but is 256 x D numbers (3.2 MB as float16 for customnet, more than the model); this
 * projection is stored as four numbers and rebuilt from its seed, so profile size and build time
 * do not grow with the width. Pure: no I/O.
 */
export interface EmbeddingProjection {
  method: 'sparse-sign';
  seed: number;
  /** Width of the model's `embedding` output. */
  inputSize: number;
  /** Width after projection (the profile's `embeddingSize`). */
  outputSize: number;
}

/** Embeddings wider than this are projected to this many dimensions. */
export const MAX_OOD_DIMENSIONS = 256;
/** Fixed so that the same model always gets the same projection. */
export const PROJECTION_SEED = 1;

/** The projection matrix in sparse form: `terms` (input index, ±1/sqrt(terms)) pairs per output. */
export interface ProjectionPlan {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly terms: number;
  readonly index: Uint32Array;
  readonly weight: Float32Array;
}

/** The projection to use for an embedding of `width`, or null when it is narrow enough as it is. */
export function projectionFor(width: number): EmbeddingProjection | null {
  return width > MAX_OOD_DIMENSIONS ? { method: 'sparse-sign', seed: PROJECTION_SEED, inputSize: width, outputSize: MAX_OOD_DIMENSIONS } : null;
}

/**
 * Each output sums sqrt(D) inputs drawn with replacement, each with a random sign: the density
 * 1/sqrt(D) of Li et al.'s "very sparse" projections, which keeps pairwise distances as well as a
 * dense Gaussian one does at a sqrt(D)-fold lower cost (customnet: 20k additions per frame).
 */
export function projectionPlan(p: EmbeddingProjection): ProjectionPlan {
  if (p.method !== 'sparse-sign') throw new RangeError(`unknown embedding projection "${String(p.method)}"`);
  const terms = Math.max(1, Math.round(Math.sqrt(p.inputSize)));
  const rng = createRng(p.seed);
  const index = new Uint32Array(p.outputSize * terms);
  const weight = new Float32Array(p.outputSize * terms);
  const unit = 1 / Math.sqrt(terms);
  for (let i = 0; i < index.length; i++) {
    index[i] = Math.min(p.inputSize - 1, Math.floor(rng() * p.inputSize));
    weight[i] = rng() < 0.5 ? -unit : unit;
  }
  return { inputSize: p.inputSize, outputSize: p.outputSize, terms, index, weight };
}

/** Projects `rows` embeddings of `plan.inputSize` values each (row-major) into a new array. */
export function projectRows(plan: ProjectionPlan, x: ArrayLike<number>, rows = 1): Float32Array {
  if (x.length !== rows * plan.inputSize) throw new RangeError(`projection: expected ${rows} x ${plan.inputSize} values, got ${x.length}`);
  const out = new Float32Array(rows * plan.outputSize);
  for (let r = 0; r < rows; r++) {
    const base = r * plan.inputSize;
    for (let j = 0; j < plan.outputSize; j++) {
      let s = 0;
      for (let t = j * plan.terms, end = t + plan.terms; t < end; t++) s += plan.weight[t] * x[base + plan.index[t]];
      out[r * plan.outputSize + j] = s;
    }
  }
  return out;
}
