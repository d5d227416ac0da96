import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replaceSection } from '../../scripts/bench/train-speed.ts';

test('the bench replaces its own section and keeps the others', () => {
  const doc = '# Benchmarks\n\nintro\n\n## Inference latency\n\nold latency\n\n## Training throughput\n\nold numbers\n\n## Export\n\nexport text\n';
  const out = replaceSection(doc, '| new | table |');
  assert.equal(out, '# Benchmarks\n\nintro\n\n## Inference latency\n\nold latency\n\n## Training throughput\n\n| new | table |\n\n## Export\n\nexport text\n');
  assert.equal(replaceSection(out, '| new | table |'), out, 'running twice changes nothing');
});

test('the bench appends its section, or starts the file', () => {
  assert.equal(replaceSection('# Benchmarks\n\n## Inference latency\n\nx\n', 'rows'), '# Benchmarks\n\n## Inference latency\n\nx\n\n## Training throughput\n\nrows\n');
  assert.equal(replaceSection('', 'rows'), '# Benchmarks\n\n## Training throughput\n\nrows\n');
});
