import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBody } from '../../device/features/commands.ts';
import { SerialQueue } from '../../device/features/command-queue.ts';

/** What the first mutation run of the commands module found unpinned (docs/testing.md). */

test('resume takes the same fields as pause: a camera and a requestId', () => {
  for (const name of ['pause', 'resume'] as const) {
    assert.deepEqual(parseBody(name, Buffer.from('{"camera":"door","requestId":"r"}')), { requestId: 'r', body: { camera: 'door', requestId: 'r' } }, name);
  }
});

test('a stopped serial queue holds nothing and refuses new jobs', async () => {
  const q = new SerialQueue(3, () => {});
  let release = () => {};
  q.push(() => new Promise<void>((resolve) => (release = resolve)));
  q.push(async () => {});
  q.push(async () => {});
  assert.equal(q.length, 2);
  const stopping = q.stop();
  assert.equal(q.length, 0, 'the waiting jobs are gone at once');
  assert.equal(q.push(async () => {}), false);
  release();
  assert.equal(await stopping, 2);
  assert.equal(q.length, 0);
});
