import { z } from 'zod';
import { DEFAULT_FALSE_ALARM_RATE, DEFAULT_WINDOW_SIZE } from './monitor.ts';

/**
 * `drift:` in the agent config. `enabled: auto` (default) monitors whenever the serving model
 * carries a reference profile (metadata or `<model>.drift.json`); `false` never; `true` also warns
 * when the model has none.
 */
export const driftConfigSchema = z.object({
  enabled: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  windowSize: z.number().int().min(20).default(DEFAULT_WINDOW_SIZE),
  mode: z.enum(['tumbling', 'sliding']).default('tumbling'),
  /** Sliding mode: frames between reports (default windowSize / 4). */
  stride: z.number().int().positive().optional(),
  /** Per-window probability that a drift-free window fails some metric (Bonferroni-split). */
  falseAlarmRate: z.number().gt(0).lt(0.5).default(DEFAULT_FALSE_ALARM_RATE),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
}).strict();

export type DriftConfig = z.infer<typeof driftConfigSchema>;
export const DEFAULT_DRIFT_CONFIG: DriftConfig = driftConfigSchema.parse({});
