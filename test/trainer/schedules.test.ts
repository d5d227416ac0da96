import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRateAt, type ScheduleParams } from '../../training/trainer/schedules.ts';

const base = { baseLr: 0.1, totalSteps: 100, stepsPerEpoch: 10 };
const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, msg ?? `${a} != ${b}`);

test('constant keeps the base rate', () => {
  for (const s of [0, 50, 100]) assert.equal(learningRateAt({ ...base, schedule: 'constant' }, s), 0.1);
});

test('step multiplies by gamma every stepEpochs epochs', () => {
  const p: ScheduleParams = { ...base, schedule: 'step', stepEpochs: 3, gamma: 0.5 };
  close(learningRateAt(p, 0), 0.1);
  close(learningRateAt(p, 29), 0.1); // epoch 2 < 3
  close(learningRateAt(p, 30), 0.05); // epoch 3
  close(learningRateAt(p, 60), 0.025); // epoch 6
  // default: 0.1x every third of the run (10 epochs -> every 3)
  close(learningRateAt({ ...base, schedule: 'step' }, 30), 0.01);
});

test('cosine goes from base to zero through base/2 at the midpoint', () => {
  const p: ScheduleParams = { ...base, schedule: 'cosine' };
  close(learningRateAt(p, 0), 0.1);
  close(learningRateAt(p, 50), 0.05);
  close(learningRateAt(p, 100), 0);
  assert.ok(learningRateAt(p, 30) > learningRateAt(p, 31));
});

test('one-cycle warms up linearly to the peak, then anneals to base/finalDiv', () => {
  const p: ScheduleParams = { ...base, schedule: 'one-cycle', warmupFraction: 0.3, div: 25, finalDiv: 1e4 };
  close(learningRateAt(p, 0), 0.1 / 25);
  close(learningRateAt(p, 15), 0.1 / 25 + (0.1 - 0.1 / 25) / 2);
  close(learningRateAt(p, 30), 0.1);
  close(learningRateAt(p, 100), 0.1 / 1e4);
  for (let s = 1; s <= 30; s++) assert.ok(learningRateAt(p, s) > learningRateAt(p, s - 1));
  for (let s = 31; s <= 100; s++) assert.ok(learningRateAt(p, s) < learningRateAt(p, s - 1));
});
