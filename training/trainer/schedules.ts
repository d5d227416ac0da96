/** Learning-rate schedules as pure functions of the global step, so tests can pin them. */
export type ScheduleName = 'constant' | 'step' | 'cosine' | 'one-cycle';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'step', 'cosine', 'one-cycle'];

export interface ScheduleParams {
  schedule: ScheduleName;
  /** Peak (one-cycle) or starting learning rate. */
  baseLr: number;
  totalSteps: number;
  stepsPerEpoch: number;
  /** step: multiply by `gamma` every `stepEpochs` epochs (defaults: 0.1 every third of the run). */
  gamma?: number;
  stepEpochs?: number;
  /** one-cycle: fraction of the run spent warming up, start = baseLr/div, end = baseLr/finalDiv. */
  warmupFraction?: number;
  div?: number;
  finalDiv?: number;
}

/** Learning rate for global step `step` (0-based). */
export function learningRateAt(p: ScheduleParams, step: number): number {
  const total = Math.max(1, p.totalSteps);
  const t = Math.min(Math.max(step, 0), total);
  switch (p.schedule) {
    case 'constant':
      return p.baseLr;
    case 'step': {
      const epochs = total / Math.max(1, p.stepsPerEpoch);
      const every = p.stepEpochs ?? Math.max(1, Math.round(epochs / 3));
      const epoch = Math.floor(t / Math.max(1, p.stepsPerEpoch));
      return p.baseLr * (p.gamma ?? 0.1) ** Math.floor(epoch / every);
    }
    case 'cosine':
      return 0.5 * p.baseLr * (1 + Math.cos((Math.PI * t) / total));
    case 'one-cycle': {
      const warm = Math.max(1, Math.round(total * (p.warmupFraction ?? 0.3)));
      const start = p.baseLr / (p.div ?? 25);
      const end = p.baseLr / (p.finalDiv ?? 1e4);
      if (t < warm) return start + ((p.baseLr - start) * t) / warm;
      const u = (t - warm) / Math.max(1, total - warm);
      return end + 0.5 * (p.baseLr - end) * (1 + Math.cos(Math.PI * u));
    }
  }
}
