import type { FrameObservation } from '../../src/drift/monitor.ts';
import type { DriftReference } from '../../src/drift/profile.ts';

/**
 * A drift reference profile written by hand, for unit tests of the monitor and the profile format
 * that must not pay for building one (test/drift/monitor.test.ts builds a real one: seconds).
 * 1,000 reference frames; every image statistic in three bins (edges 0.2 and 0.4, counts 1:2:1);
 * each output score uniform on [0, 4]; three classes 5:3:2; calibration at T = 2 with mean
 * confidence 0.7 (sd 0.1); OOD statistics in 2 dimensions with an identity whitening, class means
 * (0, 0) and (3, 4) and a threshold of 4.
 */
export function handmadeReference(over: Partial<DriftReference> = {}): DriftReference {
  const bins = () => ({ edges: [0.2, 0.4], counts: [250, 500, 250] });
  const uniform04 = () => ({ quantiles: [0, 1, 2, 3, 4], mean: 2 });
  return {
    version: 2,
    source: { split: 'val', count: 1000, seed: 1, note: 'hand-made' },
    createdAt: '2026-01-01T00:00:00.000Z',
    classes: ['a', 'b', 'c'],
    images: { brightness: bins(), contrast: bins(), sharpness: bins(), foreground: bins() },
    outputs: { confidence: uniform04(), entropy: uniform04(), energy: uniform04() },
    predictedClasses: [500, 300, 200],
    calibration: { temperature: 2, accuracy: 0.8, meanConfidence: 0.7, stdConfidence: 0.1 },
    ood: { embeddingSize: 2, shrinkage: 0, whitening: [1, 0, 1], whitenedMeans: [[0, 0], [3, 4]], threshold: 4, tpr: 0.95 },
    ...over,
  };
}

/**
 * A window of 20 frames that looks exactly like the hand-made reference: image statistics 5/10/5 over
 * its 1:2:1 bins, outputs spread evenly over [0, 4], classes 10/6/4, calibrated confidence at its mean.
 */
export function cleanWindow(): FrameObservation[] {
  return Array.from({ length: 20 }, (_, i) => {
    const level = i < 5 ? 0.1 : i < 15 ? 0.3 : 0.5;
    const spread = (i + 0.5) / 5;
    return {
      image: { brightness: level, contrast: level, sharpness: level, foreground: level },
      confidence: spread, entropy: spread, energy: spread,
      predicted: i < 10 ? 0 : i < 16 ? 1 : 2,
      calibratedConfidence: 0.7,
      ood: 1,
    };
  });
}
