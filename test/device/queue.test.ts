import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { DiskQueue } from '../../device/queue/disk.ts';
import type { MessageQueue, QueueBounds } from '../../device/queue/types.ts';

interface QueueFactory {
  name: string;
  make(bounds?: Partial<QueueBounds>, now?: () => number): Promise<{ queue: MessageQueue; cleanup(): Promise<void> }>;
}

const factories: QueueFactory[] = [
  { name: 'memory', async make(bounds, now) { return { queue: new MemoryQueue(bounds, now), cleanup: async () => {} }; } },
  {
    name: 'disk',
    async make(bounds, now) {
      const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
      const queue = new DiskQueue({ dir, bounds, now, segmentBytes: 256 });
      return { queue, cleanup: async () => { await queue.close(); await rm(dir, { recursive: true, force: true }); } };
    },
  },
];

const msg = (i: number, ts = Date.now()) => ({ topic: `t/${i}`, payload: JSON.stringify({ i }), qos: 1 as const, ts });

for (const f of factories) {
  describe(`MessageQueue contract: ${f.name}`, () => {
    test('peek returns messages in append order and commit removes them', async () => {
      const { queue, cleanup } = await f.make();
      await queue.open();
      for (let i = 0; i < 5; i++) await queue.append(msg(i));
      const first = queue.peek(3);
      assert.deepEqual(first.map((m) => m.topic), ['t/0', 't/1', 't/2']);
      assert.ok(first[0].seq < first[1].seq && first[1].seq < first[2].seq);
      await queue.commit(first[2].seq);
      assert.equal(queue.depth, 2);
      assert.deepEqual(queue.peek(10).map((m) => m.topic), ['t/3', 't/4']);
      await cleanup();
    });

    test('a message-count bound drops the oldest and counts it', async () => {
      const { queue, cleanup } = await f.make({ maxMessages: 3 });
      await queue.open();
      for (let i = 0; i < 5; i++) await queue.append(msg(i));
      assert.deepEqual(queue.peek(10).map((m) => m.topic), ['t/2', 't/3', 't/4']);
      assert.equal(queue.dropped.total, 2);
      assert.equal(queue.dropped.byReason['max-messages'], 2);
      await cleanup();
    });

    test('a byte bound drops the oldest and counts it', async () => {
      const { queue, cleanup } = await f.make({ maxBytes: 100 });
      await queue.open();
      for (let i = 0; i < 10; i++) await queue.append(msg(i));
      assert.ok(queue.bytes <= 100);
      assert.ok(queue.dropped.byReason['max-bytes'] > 0);
      assert.equal(queue.depth + queue.dropped.total, 10);
      assert.equal(queue.peek(100).at(-1)?.topic, 't/9');
      await cleanup();
    });

    test('messages older than the age bound are dropped and counted', async () => {
      let now = 1_000_000;
      const { queue, cleanup } = await f.make({ maxAgeMs: 1000 }, () => now);
      await queue.open();
      await queue.append(msg(0, now));
      await queue.append(msg(1, now + 500));
      now += 1200;
      assert.deepEqual(queue.peek(10).map((m) => m.topic), ['t/1']);
      assert.equal(queue.dropped.byReason['max-age'], 1);
      await cleanup();
    });
  });
}

describe('DiskQueue durability', () => {
  test('undelivered messages survive a restart, in order, and seqs keep increasing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
    const a = new DiskQueue({ dir, segmentBytes: 200 });
    await a.open();
    for (let i = 0; i < 20; i++) await a.append(msg(i));
    await a.commit(a.peek(7)[6].seq);
    await a.close();
    const b = new DiskQueue({ dir, segmentBytes: 200 });
    await b.open();
    const left = b.peek(100);
    assert.deepEqual(left.map((m) => m.topic), Array.from({ length: 13 }, (_, i) => `t/${i + 7}`));
    await b.append(msg(99));
    assert.ok(b.peek(100).at(-1)!.seq > left.at(-1)!.seq);
    await b.commit(b.peek(100).at(-1)!.seq);
    await b.close();
    const segs = (await readdir(dir)).filter((n) => n.startsWith('seg-'));
    assert.deepEqual(segs, [], 'delivered segments are deleted, the last one too once closed');
    await rm(dir, { recursive: true, force: true });
  });

  test('a torn last record is ignored and later appends still load', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
    const a = new DiskQueue({ dir });
    await a.open();
    await a.append(msg(1));
    await a.close();
    const seg = (await readdir(dir)).find((n) => n.startsWith('seg-'))!;
    await appendFile(join(dir, seg), '{"s":2,"t":"t/2","p":"{\\"i');
    const b = new DiskQueue({ dir });
    await b.open();
    await b.append(msg(3));
    await b.close();
    const c = new DiskQueue({ dir });
    await c.open();
    assert.deepEqual(c.peek(10).map((m) => m.topic), ['t/1', 't/3']);
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });
});
