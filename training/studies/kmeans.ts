import { UserError } from '../../src/errors.ts';
import { createRng } from '../../src/random.ts';

/** Seeded k-means with k-means++ initialisation (Arthur & Vassilvitskii 2007). Pure maths, no I/O. */
export interface KMeansOptions {
  seed?: number;
  /** Lloyd iterations at most (default 100); stops earlier when no assignment changes. */
  maxIterations?: number;
}

export interface KMeansResult {
  /** k rows of `dim` values. */
  centroids: Float64Array;
  /** Cluster of each point, 0..k-1. */
  assignments: Int32Array;
  /** Sum of squared distances of the points to their centroids. */
  inertia: number;
  iterations: number;
}

export const KMEANS_DEFAULTS = { seed: 1, maxIterations: 100 } as const;

function squaredDistance(points: ArrayLike<number>, i: number, centroids: Float64Array, c: number, dim: number): number {
  let d = 0;
  for (let j = 0; j < dim; j++) {
    const diff = points[i * dim + j] - centroids[c * dim + j];
    d += diff * diff;
  }
  return d;
}

/**
 * k-means++ seeding: the first centre uniformly, each next one with probability proportional to
 * its squared distance from the nearest centre chosen so far. When every point already coincides
 * with a centre (fewer distinct values than k), the remaining centres repeat the first point: their
 * clusters stay empty and keep that position.
 */
function plusPlusInit(points: ArrayLike<number>, n: number, dim: number, k: number, rng: () => number): Float64Array {
  const centroids = new Float64Array(k * dim);
  const nearest = new Float64Array(n).fill(Infinity);
  let pick = Math.min(n - 1, Math.floor(rng() * n));
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < dim; j++) centroids[c * dim + j] = points[pick * dim + j];
    let total = 0;
    for (let i = 0; i < n; i++) {
      nearest[i] = Math.min(nearest[i], squaredDistance(points, i, centroids, c, dim));
      total += nearest[i];
    }
    if (c + 1 === k) break;
    if (total === 0) {
      pick = 0;
      continue;
    }
    let target = rng() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      target -= nearest[i];
      if (target < 0) {
        pick = i;
        break;
      }
    }
  }
  return centroids;
}

/** Clusters `n = points.length / dim` points of `dim` values into `k` groups (Lloyd's algorithm). */
export function kmeans(points: ArrayLike<number>, dim: number, k: number, opts: KMeansOptions = {}): KMeansResult {
  const n = points.length / dim;
  if (!Number.isInteger(dim) || dim < 1 || !Number.isInteger(n)) throw new Error(`kmeans: ${points.length} values are not rows of ${dim}`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`kmeans: k must be an integer from 1 to the number of points (${n}), got ${k}`);
  const rng = createRng(opts.seed ?? KMEANS_DEFAULTS.seed);
  const maxIterations = opts.maxIterations ?? KMEANS_DEFAULTS.maxIterations;
  const centroids = plusPlusInit(points, n, dim, k, rng);
  const assignments = new Int32Array(n).fill(-1);
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < k; c++) {
        const d = squaredDistance(points, i, centroids, c, dim);
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      if (assignments[i] !== best) {
        assignments[i] = best;
        changed++;
      }
    }
    if (changed === 0) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assignments[i];
      counts[c]++;
      for (let j = 0; j < dim; j++) sums[c * dim + j] += points[i * dim + j];
    }
    // An empty cluster keeps its centre (it is a duplicate of another one, see plusPlusInit).
    for (let c = 0; c < k; c++) if (counts[c] > 0) for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / counts[c];
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += squaredDistance(points, i, centroids, assignments[i], dim);
  return { centroids, assignments, inertia, iterations };
}

/**
 * A grayscale image with every pixel replaced by the (rounded) centre of its intensity cluster, as
 * Safaei's report shows a training image at K = 1..6: regions and edges appear as K grows.
 */
export function segmentGray(pixels: Uint8Array, k: number, seed: number = KMEANS_DEFAULTS.seed): { pixels: Uint8Array; levels: number[]; inertia: number } {
  const r = kmeans(pixels, 1, k, { seed });
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = Math.round(r.centroids[r.assignments[i]]);
  const levels = [...new Set(Array.from(r.centroids, (c) => Math.round(c)))].sort((a, b) => a - b);
  return { pixels: out, levels, inertia: r.inertia };
}

/** `--k 1-6`, `3` or `2,4,6`: sorted unique integers in 1..max. */
export function parseKList(spec: string, max = 16): number[] {
  const bad = () => new UserError(`--k: expected cluster counts 1..${max} like "1-6", "3" or "2,4,6", got "${spec}"`);
  const set = new Set<number>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    if (!(lo >= 1 && hi <= max && lo <= hi)) throw bad();
    for (let v = lo; v <= hi; v++) set.add(v);
  }
  if (set.size === 0) throw bad();
  return [...set].sort((a, b) => a - b);
}
