import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { imageAt } from '../data/dataset.ts';
import { loadDataset } from '../data/load.ts';
import { imageGridPng } from '../plots/image-grid.ts';
import { KMEANS_DEFAULTS, parseKList, segmentGray } from './kmeans.ts';

/** `edgeloom data segment`: one image of a split clustered by pixel intensity at several K. */
export interface SegmentOptions {
  data?: string;
  dataDir?: string;
  split?: string;
  index?: number;
  /** "1-6", "3" or "2,4,6". */
  k?: string;
  out: string;
  seed?: number;
}

export interface SegmentResult {
  out: string;
  split: 'train' | 'test';
  index: number;
  label: string;
  file?: string;
  seed: number;
  segments: Array<{ k: number; levels: number[]; inertia: number }>;
}

export const SEGMENT_DEFAULTS = { split: 'train', index: 0, k: '1-6' } as const;

export async function runSegment(opts: SegmentOptions): Promise<SegmentResult> {
  const given = opts.split ?? SEGMENT_DEFAULTS.split;
  if (given !== 'train' && given !== 'test') throw new UserError(`--split: expected train or test, got "${given}"`);
  const split: 'train' | 'test' = given === 'test' ? 'test' : 'train';
  const ks = parseKList(opts.k ?? SEGMENT_DEFAULTS.k);
  const seed = opts.seed ?? KMEANS_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new UserError(`--seed: expected an integer, got ${seed}`);
  if (!opts.out.toLowerCase().endsWith('.png')) throw new UserError(`--out ${opts.out}: expected a .png file name`);
  const log = createLogger('data');
  const ds = await loadDataset({ data: opts.data, dataDir: opts.dataDir, onProgress: (m) => log.info(m) });
  const set = ds[split];
  const index = opts.index ?? SEGMENT_DEFAULTS.index;
  if (!Number.isInteger(index) || index < 0
    || index >= set.count) throw new UserError(`--index: expected an integer from 0 to ${set.count - 1} (the ${split} split has ${set.count} images), got ${index}`);
  const pixels = imageAt(set, index);
  const label = set.classNames[set.labels[index]];
  const segments = ks.map((k) => ({ k, ...segmentGray(pixels, k, seed) }));
  const items = [
    { pixels, caption: `original: ${label}`, ...(set.files ? { note: set.files[index] } : {}) },
    ...segments.map((s) => ({ pixels: s.pixels, caption: `K = ${s.k} (${s.levels.length} level${s.levels.length === 1 ? '' : 's'})` })),
  ];
  const png = await imageGridPng(items, { cols: items.length, scale: 4, title: `k-means on pixel intensity: ${split} image ${index} (${label})` });
  await writeFileAtomic(opts.out, png);
  return {
    out: opts.out,
    split,
    index,
    label,
    ...(set.files ? { file: set.files[index] } : {}),
    seed,
    segments: segments.map((s) => ({ k: s.k, levels: s.levels, inertia: Math.round(s.inertia * 1000) / 1000 })),
  };
}

export function formatSegment(r: SegmentResult): string {
  return [
    `${r.split} image ${r.index} (${r.label}${r.file ? `, ${r.file}` : ''}), seed ${r.seed}:`,
    ...r.segments.map((s) => `  K = ${s.k}: levels ${s.levels.join(', ')}; inertia ${s.inertia.toFixed(0)}`),
    `wrote ${r.out}`,
  ].join('\n');
}
