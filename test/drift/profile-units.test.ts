import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.ts';
import { compactProfile, parseDriftReference, serializeDriftReference, sidecarPath, type DriftReference } from '../../src/drift/profile.ts';
import { packFloat16, roundToFloat16, unpackFloat16 } from '../../src/drift/float16.ts';
import { DEFAULT_DRIFT_CONFIG, driftConfigSchema } from '../../src/drift/config.ts';
import { handmadeReference } from './handmade.ts';

/** The stored form of the hand-made profile, as JSON would bring it back (a fresh copy each call). */
function stored(): Record<string, any> {
  return JSON.parse(JSON.stringify(serializeDriftReference(handmadeReference())));
}

function refuses(value: unknown, message: RegExp | string): void {
  assert.throws(() => parseDriftReference(value, 'm.onnx'), (e: Error) => {
    assert.ok(e instanceof UserError, String(e));
    assert.ok(!e.message.includes('\n'), 'one line');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** A stored profile with one change made by `edit`. */
function withEdit(edit: (r: Record<string, any>) => void): Record<string, any> {
  const r = stored();
  edit(r);
  return r;
}

test('float16 packing: little-endian half floats in base64, nearest float16 rounding', () => {
  // 1.0 is 0x3C00 and -2.0 is 0xC000 in IEEE half precision: bytes 00 3C and 00 C0.
  assert.equal(packFloat16([1]), Buffer.from([0x00, 0x3c]).toString('base64'));
  assert.equal(packFloat16([1, -2]), Buffer.from([0x00, 0x3c, 0x00, 0xc0]).toString('base64'));
  assert.equal(packFloat16([]), '');
  assert.deepEqual(unpackFloat16(Buffer.from([0x00, 0x3c, 0x00, 0xc0]).toString('base64'), 2), [1, -2]);
  assert.deepEqual(unpackFloat16('', 0), []);
  // 1/3 in half precision: 1.0101010101b × 2^-2 = (1 + 341/1024) / 4.
  assert.deepEqual(roundToFloat16([1 / 3, 0.5, 65504]), [(1 + 341 / 1024) / 4, 0.5, 65504]);
  assert.deepEqual(unpackFloat16(packFloat16([1 / 3]), 1), [(1 + 341 / 1024) / 4]);
});

test('float16 unpacking refuses anything but base64 of exactly the expected count of finite values', () => {
  const one = packFloat16([1]);
  assert.deepEqual(unpackFloat16(one, 1), [1]);
  assert.deepEqual(unpackFloat16(one.replace(/=+$/, ''), 1), [1], 'padding is optional');
  assert.equal(unpackFloat16(one, 2), null);
  assert.equal(unpackFloat16(packFloat16([1, 2]), 1), null);
  // Node's base64 decoder skips characters it does not know: the text is checked first.
  for (const bad of [`!${one}`, `${one}!`, `${one.slice(0, 2)} ${one.slice(2)}`, 'AD_=', 'AD-=', `${one}==`]) assert.equal(unpackFloat16(bad, 1), null, bad);
  assert.equal(unpackFloat16(packFloat16([1e6]), 1), null, 'overflow to Infinity');
  assert.equal(unpackFloat16(packFloat16([Number.NaN]), 1), null, 'NaN');
  assert.equal(unpackFloat16(packFloat16([1, -1e6]), 2), null, 'one bad value among good ones');
});

test('a stored profile reads back as written: OOD arrays from base64 float16, version 2', () => {
  const back = parseDriftReference(stored(), 'm.onnx');
  assert.deepEqual(back, handmadeReference());
  const s = stored();
  assert.equal(s.ood.whitening, packFloat16([1, 0, 1]));
  assert.deepEqual(s.ood.whitenedMeans, { classes: 2, data: packFloat16([0, 0, 3, 4]) });
  assert.deepEqual({ ...s, ood: null }, { ...JSON.parse(JSON.stringify(handmadeReference())), ood: null }, 'everything else as it is');
  // Version 1 (OOD arrays as JSON numbers) still reads, and comes back as version 2.
  const v1 = { ...JSON.parse(JSON.stringify(handmadeReference())), version: 1 };
  assert.deepEqual(parseDriftReference(v1, 'old.onnx'), handmadeReference());
  // No OOD statistics (a model without an embedding).
  const none = handmadeReference({ ood: null });
  assert.equal(serializeDriftReference(none), none);
  assert.deepEqual(parseDriftReference(JSON.parse(JSON.stringify(none)), 'm.onnx'), none);
  assert.equal(parseDriftReference({ ...stored(), classes: ['x', 'y'], predictedClasses: [1, 1] }, 'm.onnx').classes.length, 2, 'two classes are enough');
  assert.equal(parseDriftReference(withEdit((r) => { r.outputs.energy.quantiles = [0, 1]; }), 'm.onnx').outputs.energy.quantiles.length, 2);
});

test('a malformed profile is a one-line UserError naming the file and the field', () => {
  refuses(null, 'm.onnx: drift reference (top level): expected a JSON object');
  refuses('profile', /\(top level\)/);
  refuses({ ...stored(), version: 3 }, 'm.onnx: drift reference version: expected 1 or 2 (found 3)');
  refuses({ ...stored(), version: '2' }, 'm.onnx: drift reference version: expected 1 or 2 (found "2")');
  refuses({ ...stored(), source: undefined }, 'm.onnx: drift reference source.count: expected a positive number');
  refuses(withEdit((r) => { r.source.count = 0; }), /source\.count/);
  refuses(withEdit((r) => { r.source.count = '5'; }), /source\.count/);
  refuses(withEdit((r) => { r.source.split = 'test'; }), 'm.onnx: drift reference source.split: expected "val" or "train-sample"');
  assert.equal(parseDriftReference(withEdit((r) => { r.source.split = 'train-sample'; }), 'm.onnx').source.split, 'train-sample');
  refuses({ ...stored(), classes: 'abc' }, 'm.onnx: drift reference classes: expected an array of class names');
  refuses({ ...stored(), classes: ['a'], predictedClasses: [1] }, /drift reference classes:/);
  refuses({ ...stored(), images: undefined }, 'm.onnx: drift reference images.brightness: expected {edges, counts} with counts.length = edges.length + 1');
  refuses(withEdit((r) => { delete r.images.foreground; }), /images\.foreground/);
  refuses(withEdit((r) => { r.images.contrast.edges = [0.2, 'x']; }), /images\.contrast/);
  refuses(withEdit((r) => { r.images.contrast.edges = 'x'; }), /images\.contrast/);
  refuses(withEdit((r) => { r.images.sharpness.counts = [1, 2]; }), /images\.sharpness/);
  refuses(withEdit((r) => { r.images.sharpness.counts = [1, 2, Infinity]; }), /images\.sharpness/);
  refuses({ ...stored(), outputs: undefined }, 'm.onnx: drift reference outputs.confidence.quantiles: expected an array of numbers');
  refuses(withEdit((r) => { delete r.outputs.entropy; }), /outputs\.entropy\.quantiles/);
  refuses(withEdit((r) => { r.outputs.energy.quantiles = [1]; }), /outputs\.energy\.quantiles/);
  refuses(withEdit((r) => { r.outputs.energy.quantiles = [1, null]; }), /outputs\.energy\.quantiles/);
  refuses({ ...stored(), predictedClasses: [1, 2] }, 'm.onnx: drift reference predictedClasses: expected one count per class');
  const calibration = 'm.onnx: drift reference calibration: expected {temperature > 0, meanConfidence, stdConfidence}';
  refuses({ ...stored(), calibration: undefined }, calibration);
  refuses(withEdit((r) => { r.calibration.temperature = 0; }), calibration);
  refuses(withEdit((r) => { r.calibration.temperature = '2'; }), calibration);
  refuses(withEdit((r) => { r.calibration.meanConfidence = '0.7'; }), calibration);
  refuses(withEdit((r) => { delete r.calibration.stdConfidence; }), calibration);
});

test('a profile whose numbers contradict each other is refused, not used to file frames in the wrong bins', () => {
  refuses({ ...stored(), classes: ['a', 'b', 3] }, 'm.onnx: drift reference classes: expected an array of class names');
  const bins = 'm.onnx: drift reference images.contrast: expected edges in increasing order and counts >= 0';
  refuses(withEdit((r) => { r.images.contrast.edges = [0.4, 0.2]; }), bins);
  refuses(withEdit((r) => { r.images.contrast.counts = [250, -1, 250]; }), bins);
  assert.deepEqual(parseDriftReference(withEdit((r) => { r.images.contrast.counts = [0, 500, 500]; }), 'm.onnx').images.contrast.counts, [0, 500, 500], 'an empty bin is a count');
  // Equal neighbours are ties, not disorder: a statistic with few distinct values has them.
  assert.deepEqual(parseDriftReference(withEdit((r) => { r.images.contrast.edges = [0.2, 0.2]; }), 'm.onnx').images.contrast.edges, [0.2, 0.2]);
  const unordered = 'm.onnx: drift reference outputs.entropy.quantiles: expected numbers in increasing order (quantiles at increasing levels)';
  refuses(withEdit((r) => { r.outputs.entropy.quantiles = [0, 2, 1, 3, 4]; }), unordered);
  assert.deepEqual(parseDriftReference(withEdit((r) => { r.outputs.entropy.quantiles = [0, 0, 1, 1, 4]; }), 'm.onnx').outputs.entropy.quantiles, [0, 0, 1, 1, 4]);
  refuses(withEdit((r) => { r.outputs.energy.mean = '2'; }), 'm.onnx: drift reference outputs.energy.mean: expected a number');
  refuses(withEdit((r) => { delete r.outputs.confidence.mean; }), /outputs\.confidence\.mean/);
  // One whitened mean per class the reference saw: fewer is a class absent from it, more is no profile of this model.
  const fourMeans = withEdit((r) => { r.ood.whitenedMeans = { classes: 4, data: packFloat16([0, 0, 1, 1, 2, 2, 3, 3]) }; });
  refuses(fourMeans, 'm.onnx: drift reference ood.whitenedMeans: expected at most one mean per class (3), found 4');
});

test('OOD statistics: packed or plain arrays of the right sizes, a threshold, a matching projection', () => {
  const ood = /^m\.onnx: drift reference ood: expected \{embeddingSize D, whitening: D\(D\+1\)\/2 numbers \(base64 float16\), whitenedMeans: D numbers per class, threshold\}$/;
  refuses({ ...stored(), ood: undefined }, ood);
  refuses(withEdit((r) => { delete r.ood.embeddingSize; }), ood);
  refuses(withEdit((r) => { r.ood.embeddingSize = '2'; }), ood);
  refuses(withEdit((r) => { r.ood.embeddingSize = 0; r.ood.whitening = ''; r.ood.whitenedMeans = []; }), ood);
  refuses(withEdit((r) => { r.ood.whitening = packFloat16([1, 0]); }), ood);
  refuses(withEdit((r) => { r.ood.whitening = [1, 0]; }), ood);
  refuses(withEdit((r) => { r.ood.whitening = 'not base64!'; }), ood);
  refuses(withEdit((r) => { r.ood.whitening = 7; }), ood);
  refuses(withEdit((r) => { delete r.ood.threshold; }), ood);
  refuses(withEdit((r) => { r.ood.threshold = '4'; }), ood);
  // whitenedMeans: version 1 plain arrays of D numbers, or { classes: K >= 1 (integer), data: K x D float16 }.
  const means = (m: unknown) => withEdit((r) => { r.ood.whitenedMeans = m; });
  assert.deepEqual(parseDriftReference(means([[0, 0], [3, 4]]), 'm.onnx').ood?.whitenedMeans, [[0, 0], [3, 4]]);
  assert.deepEqual(parseDriftReference(means({ classes: 1, data: packFloat16([5, 6]) }), 'm.onnx').ood?.whitenedMeans, [[5, 6]]);
  assert.deepEqual(parseDriftReference(means({ classes: 3, data: packFloat16([1, 2, 3, 4, 5, 6]) }), 'm.onnx').ood?.whitenedMeans, [[1, 2], [3, 4], [5, 6]]);
  for (const bad of [[[0, 0], [3]], [[0, 0], 'x'], { classes: 0, data: '' }, { classes: 1.5, data: packFloat16([1, 2, 3]) }, { classes: '2', data: packFloat16([0, 0, 3, 4]) },
    { classes: 2, data: packFloat16([0, 0, 3]) }, { classes: 2, data: [0, 0, 3] }, { data: packFloat16([0, 0]) }, null, 'AAAA']) {
    refuses(means(bad), ood);
  }
  // A projection must map a wider embedding onto exactly D dimensions.
  const projection = { method: 'sparse-sign', seed: 1, inputSize: 9, outputSize: 2 };
  assert.deepEqual(parseDriftReference(withEdit((r) => { r.ood.projection = projection; }), 'm.onnx').ood?.projection, projection);
  assert.deepEqual(parseDriftReference(withEdit((r) => { r.ood.projection = { ...projection, inputSize: 3 }; }), 'm.onnx').ood?.projection?.inputSize, 3);
  const badProjection = 'm.onnx: drift reference ood.projection: expected {method: "sparse-sign", seed, inputSize > 2, outputSize: 2}';
  for (const bad of [{ method: 'dense' }, { seed: 1.5 }, { seed: '1' }, { inputSize: 2 }, { inputSize: 9.5 }, { outputSize: 3 }]) {
    refuses(withEdit((r) => { r.ood.projection = { ...projection, ...bad }; }), badProjection);
  }
  refuses(withEdit((r) => { r.ood.projection = null; }), badProjection);
});

test('compactProfile: non-integers to 7 significant digits, OOD arrays to float16, integers kept', () => {
  const base = handmadeReference();
  const ref: DriftReference = {
    ...base,
    calibration: { temperature: 1.23456789, accuracy: 0.8, meanConfidence: -0.123456789, stdConfidence: 123456.789 },
    outputs: { ...base.outputs, energy: { quantiles: [-12.3456789, 0, 4], mean: 1 / 3 } },
    ood: { ...base.ood!, threshold: 4.123456789, whitening: [1 / 3, 0, 1], whitenedMeans: [[0.1, 0], [3, 4]] },
  };
  const c = compactProfile(ref);
  assert.deepEqual(c.calibration, { temperature: 1.234568, accuracy: 0.8, meanConfidence: -0.1234568, stdConfidence: 123456.8 });
  assert.deepEqual(c.outputs.energy, { quantiles: [-12.34568, 0, 4], mean: 0.3333333 });
  assert.equal(c.source.count, 1000);
  assert.equal(c.ood?.threshold, 4.123457);
  assert.deepEqual(c.ood?.whitening, [(1 + 341 / 1024) / 4, 0, 1]);
  assert.deepEqual(c.ood?.whitenedMeans, [roundToFloat16([0.1]).concat(0), [3, 4]]);
  assert.notEqual(c.ood?.whitenedMeans[0][0], 0.1);
  assert.equal(ref.calibration.temperature, 1.23456789, 'the input is not changed');
  const noOod = compactProfile({ ...ref, ood: null });
  assert.equal(noOod.ood, null);
  assert.equal(noOod.calibration.temperature, 1.234568);
  assert.equal(sidecarPath('models/cnn.onnx'), 'models/cnn.onnx.drift.json');
});

test('agent drift config: documented defaults and bounds, unknown keys refused', () => {
  assert.deepEqual(DEFAULT_DRIFT_CONFIG, { enabled: 'auto', windowSize: 200, mode: 'tumbling', falseAlarmRate: 0.002, qos: 1 });
  const edges = { enabled: false, windowSize: 20, mode: 'sliding', stride: 1, falseAlarmRate: 0.49, qos: 2 };
  assert.deepEqual(driftConfigSchema.parse(edges), edges);
  assert.equal(driftConfigSchema.parse({ enabled: true }).enabled, true);
  for (const bad of [{ windowSize: 19 }, { windowSize: 20.5 }, { stride: 0 }, { stride: 1.5 }, { falseAlarmRate: 0 }, { falseAlarmRate: 0.5 }, { qos: 3 }, { mode: 'hopping' },
    { enabled: 'yes' }, { window: 200 }]) {
    assert.equal(driftConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
