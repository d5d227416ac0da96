import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subset, type ImageSet } from '../../training/data/dataset.ts';

/** The first `perClass` images of every class (the splits are stored class by class). */
export function perClassSubset(set: ImageSet, perClass: number): ImageSet {
  const taken = new Array<number>(set.classNames.length).fill(0);
  const ids: number[] = [];
  for (let i = 0; i < set.count; i++) {
    if (taken[set.labels[i]] < perClass) {
      taken[set.labels[i]]++;
      ids.push(i);
    }
  }
  return subset(set, ids);
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `edgeloom-${prefix}-`));
}

/** Images of a set grouped by label, each group in set order: a comparison that ignores file order. */
export function byClass(set: ImageSet): number[][][] {
  const groups: number[][][] = set.classNames.map(() => []);
  for (let i = 0; i < set.count; i++) groups[set.labels[i]].push([...set.images.subarray(i * 784, (i + 1) * 784)]);
  return groups;
}
