/**
 * Writes the `.json` model card of a shipped model from measurements, never by hand:
 *   node --import tsx scripts/model-card.ts --model models/edgenet.int8.onnx [--parent models/edgenet.onnx]
 *     [--train-dir runs/default-edgenet] [--reproduce "commands..."] [--out models/edgenet.int8.json]
 *     [--no-robustness]
 * It evaluates the model (and its fp32 parent) on the full official test set with onnxruntime-node,
 * runs the robustness test (six filters x five severities, seed 1), reads the training report and
 * the model's own metadata, and writes the card atomically. Without --train-dir (or --reproduce) the
 * card being replaced keeps its training section (and commands).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { readModelMetadata } from '../src/onnx/metadata.ts';
import { writeFileAtomic } from '../src/fs-atomic.ts';
import { runEvaluate } from '../training/eval/evaluate.ts';
import { runCompare } from '../training/eval/compare.ts';
import type { TrainReport } from '../training/trainer/report.ts';
import { runRobustness } from '../training/robustness/run.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    parent: { type: 'string' },
    'train-dir': { type: 'string' },
    reproduce: { type: 'string' },
    out: { type: 'string' },
    'no-robustness': { type: 'boolean' },
  },
});
if (!values.model) throw new Error('--model FILE.onnx is required');
const modelPath = values.model;
const outPath = values.out ?? modelPath.replace(/\.onnx$/, '.json');

const bytes = await readFile(modelPath);
const meta = await readModelMetadata(bytes);
const evaluation = await runEvaluate({ model: modelPath });
// Models are chosen on the validation split of their own training run (the test set is for the card);
// the card records that figure too, so a choice between cards can be checked. Null when the model
// carries no recipe to rebuild the split from (a foreign or hand-made model).
const validation = meta?.recipe ? (await runEvaluate({ model: modelPath, split: 'val' })).metrics : null;
const m = evaluation.metrics;
const round = (x: number) => Math.round(x * 10000) / 10000;

let parent: Record<string, unknown> | undefined;
if (values.parent) {
  const cmp = await runCompare({ a: values.parent, b: modelPath, runs: 300 });
  const [a, b] = cmp.models;
  parent = {
    file: basename(values.parent),
    accuracy: round(a.accuracy),
    accuracyDropPoints: round((a.accuracy - b.accuracy) * 100),
    agreement: round(cmp.agreement),
    sizeRatio: round(b.sizeBytes / a.sizeBytes),
    latencyBatch1Ms: { fp32P50: round(a.latencyMs.p50), int8P50: round(b.latencyMs.p50) },
  };
}

/** The card's training section of one `edgeloom train` output directory. */
async function trainingSection(dir: string): Promise<Record<string, unknown>> {
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as TrainReport & { averageOf?: Array<{ model: string; weight: number }> };
  if (report.averageOf) {
    // `edgeloom average`: the ingredients' own training, each with its share.
    return {
      method: 'weight average of fine-tuned models (edgeloom average)',
      ingredients: await Promise.all(report.averageOf.map(async (i) => ({ weight: i.weight, dir: basename(i.model), ...(await trainingSection(i.model)) }))),
    };
  }
  return {
    backend: report.backend.description,
    data: report.data,
    parameters: report.parameters,
    macs: report.macs,
    config: report.config,
    // A run resumed across sessions: trainSeconds sums every session's training, wallTimeSeconds is the
    // last session's process only (the 30-epoch default: 17,483 s against 1,621 s).
    trainSeconds: Math.round(report.trainSeconds),
    wallTimeSeconds: Math.round(report.wallTimeSeconds),
    resumed: report.resumed,
    samplesPerSec: Math.round(report.samplesPerSec),
    epochsRun: report.epochsRun,
    bestEpoch: report.bestEpoch,
    tfjsTestAccuracy: round(report.test.accuracy),
  };
}

// Re-measuring a model whose training run is not on this machine (e.g. after a quantizer fix):
// the training section and the commands of the card being replaced still describe it.
const previousCard = existsSync(outPath) ? (JSON.parse(await readFile(outPath, 'utf8')) as { training?: Record<string, unknown>; reproduce?: string | null }) : null;
const training = values['train-dir'] && existsSync(join(values['train-dir'], 'report.json')) ? await trainingSection(values['train-dir']) : previousCard?.training;

let robustness: Record<string, unknown> | undefined;
if (!values['no-robustness']) {
  const r = await runRobustness({ model: modelPath });
  const at3 = r.results.filter((x) => x.severity === 3);
  const worst3 = at3.reduce((w, x) => (x.accuracy < w.accuracy ? x : w));
  robustness = {
    command: `edgeloom robustness --model ${modelPath}`,
    seed: r.seed,
    count: r.count,
    clean: round(r.clean.accuracy),
    severity3: {
      meanAccuracy: round(at3.reduce((s, x) => s + x.accuracy, 0) / at3.length),
      worstFilter: { filter: worst3.filter, accuracy: round(worst3.accuracy) },
      accuracy: Object.fromEntries(at3.map((x) => [x.filter, round(x.accuracy)])),
    },
    meanCorruptionAccuracy: round(r.meanCorruptionAccuracy),
    accuracyBySeverity: Object.fromEntries(r.summary.map((f) => [f.filter, r.results.filter((x) => x.filter === f.filter).map((x) => round(x.accuracy))])),
  };
}

const card = {
  name: basename(modelPath, '.onnx'),
  file: basename(modelPath),
  sha256: createHash('sha256').update(bytes).digest('hex'),
  bytes: (await stat(modelPath)).size,
  arch: meta?.arch,
  edgeloomVersion: meta?.version,
  classes: meta?.classes,
  contract: 'input float32 [N,1,28,28] (pixel/255, bright garment on black); outputs logits [N,10], embedding [N,D]',
  quantization: meta?.quantization ?? null,
  driftProfile: meta?.driftReference ? 'embedded (edgeloom.drift_reference)' : 'none',
  test: {
    dataset: 'Fashion-MNIST official test set (10,000 images)',
    evaluatedWith: 'edgeloom evaluate (onnxruntime-node, cpu)',
    accuracy: round(m.accuracy),
    macro: { precision: round(m.macro.precision), recall: round(m.macro.recall), f1: round(m.macro.f1) },
    perClass: m.perClass.map((p) => ({ label: p.label, precision: round(p.precision), recall: round(p.recall), f1: round(p.f1), support: p.support })),
    confusion: m.confusion,
  },
  validation: validation
    ? {
        split: 'the validation split of the training recipe (edgeloom evaluate --split val)',
        count: validation.confusion.flat().reduce((a, b) => a + b, 0),
        accuracy: round(validation.accuracy),
      }
    : null,
  ...(parent ? { parent } : {}),
  ...(robustness ? { robustness } : {}),
  ...(training ? { training } : {}),
  reproduce: values.reproduce ?? previousCard?.reproduce ?? null,
  measuredAt: new Date().toISOString(),
};
await writeFileAtomic(outPath, `${JSON.stringify(card, null, 2)}\n`);
process.stderr.write(`wrote ${outPath}: accuracy ${(m.accuracy * 100).toFixed(2)}%\n`);
