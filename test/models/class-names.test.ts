import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { PINNED_FASHION_MNIST_CLASSES } from '../device/scenarios.ts';

// The class list is the one fact every payload, report and card depends on; it is checked against
// Fashion-MNIST's README order written out independently, never against itself.
test('the product\'s Fashion-MNIST class list is the README order (index = label)', () => {
  assert.deepEqual([...FASHION_MNIST_CLASSES], PINNED_FASHION_MNIST_CLASSES);
});

test('every shipped model names its classes in that order', async () => {
  const dir = new URL('../../models/', import.meta.url).pathname;
  const models = readdirSync(dir).filter((f) => f.endsWith('.onnx'));
  assert.ok(models.length >= 5, models.join(', '));
  for (const f of models) assert.deepEqual((await readModelMetadata(`${dir}${f}`))?.classes, PINNED_FASHION_MNIST_CLASSES, f);
});
