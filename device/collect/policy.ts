import { z } from 'zod';
import { observeFrame } from '../../src/drift/monitor.ts';
import type { DriftReference } from '../../src/drift/profile.ts';
import type { TopClass } from '../../src/mqtt/payloads.ts';
import { UserError } from '../../src/errors.ts';
import { softmax, topK } from '../../src/scores.ts';
import { round } from '../stats.ts';

/** Which frames are worth a human's label: all, the uncertain ones, or the unfamiliar ones (active learning). */
export const COLLECT_WHEN = ['all', 'low-confidence', 'ood'] as const;
export type CollectWhen = (typeof COLLECT_WHEN)[number];

/**
 * Every default of `edgeloom collect` and the agent's `collect:` section, in one place. The bounds
 * cover everything in `DIR/unlabelled/` (files found there at start included), so a restarted agent
 * cannot grow the folder past them: 1000 photos of ~60 KB (640x480 JPEG) stay far under 256 MiB.
 */
export const COLLECT_DEFAULTS = {
  enabled: false,
  when: 'all' as CollectWhen,
  /** Consider every Nth frame (1 = every frame). */
  every: 1,
  /** `low-confidence`: save frames whose calibrated confidence is below this. */
  threshold: 0.6,
  maxFiles: 1000,
  maxBytes: 256 * 1024 * 1024,
};

export const collectConfigSchema = z.object({
  enabled: z.boolean().default(COLLECT_DEFAULTS.enabled),
  /** Default (agent): `<state dir>/collect/<deviceId>`, next to the store-and-forward queue. */
  dir: z.string().min(1).optional(),
  when: z.enum(COLLECT_WHEN).default(COLLECT_DEFAULTS.when),
  every: z.number().int().positive().default(COLLECT_DEFAULTS.every),
  threshold: z.number().gt(0).lt(1).default(COLLECT_DEFAULTS.threshold),
  maxFiles: z.number().int().positive().default(COLLECT_DEFAULTS.maxFiles),
  maxBytes: z.number().int().positive().default(COLLECT_DEFAULTS.maxBytes),
}).strict();
export type CollectConfig = z.infer<typeof collectConfigSchema>;

/** What the model made of one frame, as stored in the frame's sidecar. */
export interface FrameGuess {
  label: string;
  classId: number;
  confidence: number;
  /** Max softmax after the drift profile's temperature scaling; null without a profile. */
  calibratedConfidence: number | null;
  top: TopClass[];
  /** Mahalanobis OOD score and the profile's threshold; null when the model has no OOD profile. */
  ood: { score: number; threshold: number; outOfDistribution: boolean } | null;
}

export function guessFrame(classes: readonly string[], pixels: Uint8Array, logits: Float32Array, embedding: Float32Array | null, ref: DriftReference | null): FrameGuess {
  const probs = softmax(logits.subarray(0, classes.length));
  const top = topK(probs, classes, 3).map((t) => ({ ...t, confidence: round(t.confidence, 5) }));
  const obs = ref ? observeFrame(ref, pixels, logits.subarray(0, classes.length), embedding) : null;
  const ood = ref?.ood && obs && !Number.isNaN(obs.ood)
    ? { score: round(obs.ood, 4), threshold: round(ref.ood.threshold, 4), outOfDistribution: obs.ood > ref.ood.threshold }
    : null;
  return {
    label: top[0].label,
    classId: top[0].classId,
    confidence: top[0].confidence,
    calibratedConfidence: obs ? round(obs.calibratedConfidence, 5) : null,
    top,
    ood,
  };
}

/** The confidence `low-confidence` compares: calibrated when the model has a profile, else raw softmax. */
export function decisionConfidence(g: FrameGuess): number {
  return g.calibratedConfidence ?? g.confidence;
}

/** Whether a frame is saved under the policy; `ood` without an OOD score saves nothing. */
export function wanted(when: CollectWhen, threshold: number, g: FrameGuess): boolean {
  if (when === 'all') return true;
  if (when === 'low-confidence') return decisionConfidence(g) < threshold;
  return g.ood?.outOfDistribution === true;
}

/** `when: ood` needs a model whose drift profile has embedding statistics. */
export function requireOodProfile(when: CollectWhen, ref: DriftReference | null, modelPath: string): void {
  if (when === 'ood' && !ref?.ood) {
    throw new UserError(`${modelPath}: --when ood needs a drift profile with OOD statistics (run \`edgeloom drift profile --model ${modelPath}\`, or use --when low-confidence)`);
  }
}
