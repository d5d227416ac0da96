import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { LEARNING_CURVES_SIZE, learningCurvesSvg } from '../../training/plots/learning-curves.ts';
import { CONFUSION_CELL, confusionMatrixSvg } from '../../training/plots/confusion.ts';
import { LINE_CHART_SIZE, lineChartSvg } from '../../training/plots/line-chart.ts';
import { imageGridLayout, imageGridPng, imageGridSvg } from '../../training/plots/image-grid.ts';
import { escapeXml, niceTicks, svgToPng, writePlot } from '../../training/plots/render.ts';
import { tempDir } from '../data/helpers.ts';

async function pngSize(png: Buffer): Promise<[number, number]> {
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  return [meta.width ?? 0, meta.height ?? 0];
}

test('learning curves: two panels with train and validation, rendered at the declared size', async () => {
  const history = [1, 2, 3, 4].map((epoch) => ({ epoch, loss: 1 / epoch, accuracy: 0.6 + epoch / 20, valLoss: 1.1 / epoch, valAccuracy: 0.58 + epoch / 21 }));
  const svg = learningCurvesSvg(history, 'run <42> & friends');
  for (const text of ['>Accuracy<', '>Loss<', '>train<', '>validation<', '>epoch<', 'run &lt;42&gt; &amp; friends']) assert.ok(svg.includes(text), text);
  assert.deepEqual(await pngSize(await svgToPng(svg)), [LEARNING_CURVES_SIZE.width, LEARNING_CURVES_SIZE.height]);
  const trainOnly = learningCurvesSvg(history.map(({ epoch, loss, accuracy }) => ({ epoch, loss, accuracy })));
  assert.ok(!trainOnly.includes('>validation<'));
});

test('confusion matrix: counts in cells, class names on both axes, true/predicted', async () => {
  const n = FASHION_MNIST_CLASSES.length;
  const matrix = FASHION_MNIST_CLASSES.map((_, r) => FASHION_MNIST_CLASSES.map((_, c) => (r === c ? 900 + r : r * 10 + c + 1000)));
  const svg = confusionMatrixSvg(matrix, FASHION_MNIST_CLASSES);
  for (const row of matrix) for (const count of row) assert.ok(svg.includes(`>${count}</text>`), String(count));
  for (const name of FASHION_MNIST_CLASSES) assert.equal(svg.split(`>${escapeXml(name)}</text>`).length - 1, 2, name);
  assert.ok(svg.includes('>true</text>') && svg.includes('>predicted</text>'));
  const [w, h] = await pngSize(await svgToPng(svg));
  assert.ok(w > n * CONFUSION_CELL && h > n * CONFUSION_CELL);
  assert.throws(() => confusionMatrixSvg([[1, 2]], FASHION_MNIST_CLASSES), /must be 10x10/);
});

test('line chart: series names, axis labels and ticks inside the fixed y range', async () => {
  const svg = lineChartSvg([{ name: 'cnn-tiny', points: [[0, 0.91], [1, 0.85], [2, 0.6]] }, { name: 'mlp', points: [[0, 0.88], [2, 0.5]] }],
    { title: 'Accuracy vs blur', xLabel: 'severity', yLabel: 'accuracy', yMin: 0, yMax: 1 });
  for (const text of ['>cnn-tiny<', '>mlp<', '>severity<', '>accuracy<', '>Accuracy vs blur<', '>0.2<', '>1<']) assert.ok(svg.includes(text), text);
  assert.deepEqual(await pngSize(await svgToPng(svg)), [LINE_CHART_SIZE.width, LINE_CHART_SIZE.height]);
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

test('image grid: captions and the layout size', async () => {
  const pixels = new Uint8Array(784).map((_, i) => i % 256);
  const items = Array.from({ length: 7 }, (_, i) => ({ pixels, caption: `Shirt → Coat ${i}`, captionColor: '#c00000' }));
  const svg = await imageGridSvg(items, { cols: 3, title: 'Misclassified' });
  assert.ok(svg.includes('>Shirt → Coat 6<') && svg.includes('>Misclassified<'));
  assert.equal(svg.split('<image ').length - 1, 7);
  const layout = imageGridLayout(7, { cols: 3, title: 'Misclassified' });
  assert.equal(layout.rows, 3);
  assert.deepEqual(await pngSize(await imageGridPng(items, { cols: 3, title: 'Misclassified' })), [layout.width, layout.height]);
});

test('writePlot writes both .svg and .png next to each other', async () => {
  const dir = await tempDir('plots');
  const svg = lineChartSvg([{ name: 'a', points: [[0, 1], [1, 2]] }], { xLabel: 'x', yLabel: 'y' });
  const written = await writePlot(join(dir, 'sub', 'chart.png'), svg);
  assert.deepEqual(written, { svg: join(dir, 'sub', 'chart.svg'), png: join(dir, 'sub', 'chart.png') });
  assert.ok(existsSync(written.svg));
  assert.deepEqual(await pngSize(await sharp(written.png).toBuffer()), [LINE_CHART_SIZE.width, LINE_CHART_SIZE.height]);
  assert.equal((await writePlot(join(dir, 'noext'), svg)).png, join(dir, 'noext.png'));
});
