import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { formatBatchLine, formatDuration, ProgressLine } from '../../training/trainer/progress.ts';

test('formatDuration picks seconds, minutes or hours', () => {
  assert.equal(formatDuration(42.4), '42s');
  assert.equal(formatDuration(125), '2m05s');
  assert.equal(formatDuration(3 * 3600 + 7 * 60), '3h07m');
  assert.equal(formatDuration(Infinity), '?');
});

test('the batch line shows epoch, bar, batch, loss, accuracy, throughput and ETA', () => {
  const line = formatBatchLine({ epoch: 2, epochs: 5, batch: 50, batches: 100, loss: 0.31234, acc: 0.8876, samplesPerSec: 612.4, etaSeconds: 250 });
  assert.equal(line, 'epoch 2/5 [##########----------] 50/100 loss 0.3123 acc 0.8876 612 img/s ETA 4m10s');
});

test('without a terminal only epoch lines are written, one per line', () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  let text = '';
  (stream as unknown as PassThrough).on('data', (d) => (text += d));
  const p = new ProgressLine(stream);
  p.batch({ epoch: 1, epochs: 1, batch: 1, batches: 2, loss: 1, acc: 0, samplesPerSec: 1, etaSeconds: 1 });
  p.epoch('epoch 1/1 loss 1.0000');
  assert.equal(text, 'epoch 1/1 loss 1.0000\n');
});

test('mode off writes nothing; a terminal gets a live line then the epoch line', () => {
  const collect = (isTTY: boolean, mode: 'auto' | 'off') => {
    const s = new PassThrough();
    let text = '';
    s.on('data', (d) => (text += d));
    const stream = Object.assign(s, { isTTY, columns: 200 }) as unknown as NodeJS.WriteStream;
    const p = new ProgressLine(stream, mode);
    p.batch({ epoch: 1, epochs: 1, batch: 2, batches: 2, loss: 1, acc: 0, samplesPerSec: 1, etaSeconds: 0 });
    p.epoch('done');
    return text;
  };
  assert.equal(collect(false, 'off'), '');
  const tty = collect(true, 'auto');
  assert.ok(tty.startsWith('\repoch 1/1 ['));
  assert.ok(tty.endsWith('done\n'));
});
