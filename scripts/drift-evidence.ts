/**
 * Measures the drift monitor on a real trained model (the test fixture: LeNet-5, 2 epochs on 8,000
 * images, reference = its 2,000-image validation split): false alarms on clean test-set replays,
 * detection delay on corrupted, out-of-distribution and label-shifted streams. Prints the tables
 * pasted into docs/drift.md.
 *
 *   node --import tsx scripts/drift-evidence.ts [--model M.onnx] [--replays 20] [--json]
 */
import { parseArgs } from 'node:util';
import { loadDataset } from '../training/data/load.ts';
import { driftFixture } from '../test/drift/fixture.ts';
import { cleanFalseAlarms, detectionDelay, driftStreams, mildStreams, observeImages } from '../test/drift/evidence.ts';

const { values } = parseArgs({ options: { model: { type: 'string' }, replays: { type: 'string', default: '20' }, json: { type: 'boolean' } } });
const model = values.model ?? (await driftFixture()).model;
const replays = Number(values.replays);
const ds = await loadDataset({});
const { ref, obs } = await observeImages(model, ds.test.images);
const rows = [];
for (const opts of [{ windowSize: 100 }, { windowSize: 200 }, { windowSize: 500 }, { windowSize: 200, mode: 'sliding' as const }]) {
  rows.push(cleanFalseAlarms(ref, obs, replays, opts));
}
const detections = [];
const streams = { ...driftStreams(ds.test, 2000), ...mildStreams(ds.test, 2000) };
for (const [name, images] of Object.entries(streams)) {
  const drifted = (await observeImages(model, images)).obs;
  for (const windowSize of [100, 200]) detections.push({ windowSize, ...detectionDelay(name, ref, obs, drifted, { windowSize }) });
}
const result = { model, reference: ref.source, replays, clean: rows, detections };
if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  console.log(`model ${model}; reference: ${ref.source.note} (${ref.source.count} images); ${replays} shuffled replays of the 10,000 test images\n`);
  console.log('| windows | count | left ok | alert | windows with a failing metric |\n|---|---|---|---|---|');
  const share = (n: number, of: number) => `${n} (${((100 * n) / of).toFixed(2)}%)`;
  for (const r of rows) console.log(`| ${r.mode} | ${r.windows} | ${share(r.leftOk, r.windows)} | ${share(r.alerts, r.windows)} | ${r.failing} |`);
  console.log('\n| stream | window | first non-ok window | alert at window | top reasons at alert |\n|---|---|---|---|---|');
  for (const d of detections) console.log(`| ${d.stream} | ${d.windowSize} | ${d.firstNonOkWindow ?? 'never'} | ${d.alertWindow ?? 'never'} | ${d.reasons.slice(0, 3).join('; ')} |`);
}
