import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCollect } from '../../device/collect/run.ts';
import { imageExtension, timeStamp } from '../../device/collect/store.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';
import { buildTinyModel } from '../device/tiny-model.ts';
import { DEFAULT_MODEL, makeFrames, photosIn, readJson } from './fixture.ts';

let ws: Awaited<ReturnType<typeof makeFrames>>;
const FRAMES = 8;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeFrames(FRAMES);
});
after(async () => {
  await rm(ws.root, { recursive: true, force: true });
});

async function sidecars(out: string): Promise<any[]> {
  const dir = join(out, 'unlabelled');
  return Promise.all((await photosIn(dir)).map((n) => readJson(join(dir, `${n}.json`))));
}

test('collect --when all via the CLI: original bytes, sidecars with guess, top-3, calibrated confidence and OOD; --max-files stops it', async () => {
  const out = join(ws.root, 'all');
  const level = process.env.EDGELOOM_LOG_LEVEL;
  process.env.EDGELOOM_LOG_LEVEL = 'info';
  const run = await runEdgeloom(['collect', '--source', `dir:${ws.frames}`, '--out', out, '--max-files', '5', '--json']).finally(() => (process.env.EDGELOOM_LOG_LEVEL = level));
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.saved, 5);
  assert.equal(summary.files, 5);
  assert.equal(summary.full, true);
  assert.equal(summary.framesRead, 5, 'stops reading once the folder is full');
  assert.match(run.stderr, /frame 1: .* -> \d{8}T\d{9}Z-dir-000001\.jpg/);
  const dir = join(out, 'unlabelled');
  const photos = await photosIn(dir);
  assert.equal(photos.length, 5);
  assert.deepEqual([...photos].sort(), photos, 'names sort by capture time and sequence');
  const originals = await Promise.all(ws.files.slice(0, 5).map((f) => readFile(f)));
  for (const [i, name] of photos.entries()) {
    const bytes = await readFile(join(dir, name));
    assert.ok(bytes.equals(originals[i]), `${name} holds the frame's bytes as received`);
    const s = await readJson(join(dir, `${name}.json`));
    assert.equal(s.file, name);
    assert.equal(s.bytes, bytes.length);
    assert.equal(s.frame, i + 1);
    assert.equal(s.when, 'all');
    assert.equal(s.source, `dir:${ws.frames}`);
    assert.ok(FASHION_MNIST_CLASSES.includes(s.label));
    assert.equal(s.top.length, 3);
    assert.equal(s.top[0].label, s.label);
    assert.ok(s.top[0].confidence >= s.top[1].confidence && s.top[1].confidence >= s.top[2].confidence);
    assert.ok(s.calibratedConfidence > 0 && s.calibratedConfidence <= 1, 'default model has a drift profile: calibrated');
    assert.equal(typeof s.ood.score, 'number');
    assert.equal(s.ood.outOfDistribution, s.ood.score > s.ood.threshold);
    assert.match(s.model.sha256, /^[0-9a-f]{64}$/);
    assert.equal(timeStamp(new Date(s.ts)), name.slice(0, 19));
  }
});

test('--when low-confidence saves exactly the frames whose calibrated confidence is under --threshold', async () => {
  const all = join(ws.root, 'lc-all');
  await runCollect({ source: `dir:${ws.frames}`, out: all, model: DEFAULT_MODEL });
  const every = await sidecars(all);
  assert.equal(every.length, FRAMES);
  const confidences = every.map((s) => s.calibratedConfidence).sort((a, b) => a - b);
  // Between two observed values, so that some frames fall under it and some do not.
  const threshold = (confidences[3] + confidences[4]) / 2;
  const out = join(ws.root, 'lc');
  const summary = await runCollect({ source: `dir:${ws.frames}`, out, model: DEFAULT_MODEL, when: 'low-confidence', threshold });
  const saved = await sidecars(out);
  const expected = every.filter((s) => s.calibratedConfidence < threshold).map((s) => s.frame);
  assert.ok(expected.length > 0 && expected.length < FRAMES);
  assert.deepEqual(saved.map((s) => s.frame), expected);
  assert.ok(saved.every((s) => s.when === 'low-confidence'));
  assert.equal(summary.skipped['not-low-confidence'], FRAMES - expected.length);
});

test('--every, --max-bytes and files already there bound the folder; nothing is overwritten', async () => {
  const out = join(ws.root, 'bounds');
  const everyOther = await runCollect({ source: `dir:${ws.frames}`, out, model: DEFAULT_MODEL, every: 2 });
  assert.deepEqual((await sidecars(out)).map((s) => s.frame), [1, 3, 5, 7]);
  assert.equal(everyOther.considered, 4);
  const before = new Map(await Promise.all((await readdir(join(out, 'unlabelled'))).map(async (n) => [n, await readFile(join(out, 'unlabelled', n))] as const)));
  // Four photos are there: a limit of 6 leaves room for two more.
  const more = await runCollect({ source: `dir:${ws.frames}`, out, model: DEFAULT_MODEL, maxFiles: 6 });
  assert.equal(more.saved, 2);
  assert.equal(more.skipped['full-files'], undefined, 'stops at the limit instead of reading on');
  const after = await readdir(join(out, 'unlabelled'));
  assert.equal((await photosIn(join(out, 'unlabelled'))).length, 6);
  for (const [name, bytes] of before) assert.ok((await readFile(join(out, 'unlabelled', name))).equals(bytes), `${name} unchanged`);
  assert.equal(after.length, before.size + 4);

  const small = join(ws.root, 'bytes');
  const maxBytes = (await stat(ws.files[0])).size + (await stat(ws.files[1])).size + 3000;
  const s = await runCollect({ source: `dir:${ws.frames}`, out: small, model: DEFAULT_MODEL, maxBytes });
  let total = 0;
  for (const n of await readdir(join(small, 'unlabelled'))) total += (await stat(join(small, 'unlabelled', n))).size;
  assert.ok(total <= maxBytes, `${total} bytes <= ${maxBytes}`);
  assert.equal(total, s.bytes);
  assert.ok(s.saved >= 1 && s.saved < FRAMES);
  assert.equal(s.skipped['full-bytes'], 1);
});

test('a second run never overwrites: same capture second, new names', async () => {
  const out = join(ws.root, 'twice');
  await runCollect({ source: `file:${ws.files[0]}`, out, model: DEFAULT_MODEL });
  await runCollect({ source: `file:${ws.files[0]}`, out, model: DEFAULT_MODEL });
  const photos = await photosIn(join(out, 'unlabelled'));
  assert.equal(photos.length, 2);
  assert.notEqual(photos[0], photos[1]);
});

test('bad input: one clear line and a non-zero exit, nothing written', async () => {
  const tiny = join(ws.root, 'tiny.onnx');
  await writeFile(tiny, buildTinyModel({ seed: 1 }));
  const out = join(ws.root, 'bad');
  const ood = await runEdgeloom(['collect', '--source', `dir:${ws.frames}`, '--out', out, '--model', tiny, '--when', 'ood']);
  assert.equal(ood.code, 1);
  assert.match(ood.stderr, /tiny\.onnx: --when ood needs a drift profile/);
  await assert.rejects(runCollect({ source: `dir:${ws.frames}`, out, when: 'sometimes' }), /^UserError: --when: expected all \| low-confidence \| ood, got "sometimes"$/);
  await assert.rejects(runCollect({ source: `dir:${ws.frames}`, out, maxFiles: 0 }), /--max-files: expected a positive integer, got 0/);
  const missing = await runEdgeloom(['collect', '--source', `dir:${join(ws.root, 'nope')}`, '--out', out]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.deepEqual(await readdir(join(out, 'unlabelled')).catch(() => []), []);
});

test('image formats are recognised from their bytes', () => {
  assert.equal(imageExtension(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), 'jpg');
  assert.equal(imageExtension(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1')), 'png');
  assert.equal(imageExtension(Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1')), 'webp');
  assert.equal(imageExtension(Buffer.from('GIF89a', 'latin1')), 'gif');
  assert.equal(imageExtension(Buffer.from('not an image')), null);
});
