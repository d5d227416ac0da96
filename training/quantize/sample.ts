import { createRng, shuffleInPlace } from '../../src/random.ts';

/**
 * A seeded, stratified sample of `count` indices: each class contributes in proportion to its
 * share (largest remainders), because Fashion-MNIST is stored class by class and a prefix would
 * hold one class only. Indices are returned shuffled.
 */
export function stratifiedIndices(labels: ArrayLike<number>, count: number, seed: number): Int32Array {
  const total = labels.length;
  if (count >= total) return Int32Array.from({ length: total }, (_, i) => i);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < total; i++) {
    const l = labels[i];
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const exact = classes.map((c) => (byClass.get(c)!.length * count) / total);
  const take = exact.map(Math.floor);
  const order = classes.map((_, i) => i).sort((a, b) => exact[b] - take[b] - (exact[a] - take[a]) || a - b);
  for (let r = count - take.reduce((s, v) => s + v, 0), i = 0; r > 0; r--, i++) take[order[i % order.length]]++;
  const rng = createRng(seed);
  const out: number[] = [];
  classes.forEach((c, i) => {
    const idx = byClass.get(c)!.slice();
    shuffleInPlace(idx, rng);
    out.push(...idx.slice(0, take[i]));
  });
  shuffleInPlace(out, rng);
  return Int32Array.from(out);
}
