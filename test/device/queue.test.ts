import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, appendFile, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryQueue } from '../../device/queue/memory.ts';
import { DiskQueue } from '../../device/queue/disk.ts';
import { encodeRecord } from '../../device/queue/record.ts';
import type { MessageQueue, QueueBounds, QueueFault } from '../../device/queue/types.ts';
import { mountTmpfs } from './faults.ts';

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

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const segFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();

/** A disk queue that records its log lines and fault callbacks. */
function observed(dir: string, opts: Partial<ConstructorParameters<typeof DiskQueue>[0]> = {}) {
  const warnings: string[] = [];
  const faults: [QueueFault, number][] = [];
  const queue = new DiskQueue({ dir, log: { ...quiet, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) }, onFault: (f, n) => faults.push([f, n]), ...opts });
  return { queue, warnings, faults };
}

describe('DiskQueue restarts and damaged files', () => {
  test('an empty newest segment file does not make the next start delete its own segment (labels were lost)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
    const a = new DiskQueue({ dir, commitIntervalMs: 0, log: quiet });
    await a.open();
    for (let i = 1; i <= 10; i++) await a.append(msg(i));
    await a.commit(5);
    await a.close();
    // What a disk-full episode left behind: the next segment created, nothing written to it.
    await writeFile(join(dir, 'seg-0000000000000011.jsonl'), '');
    const b = observed(dir, { commitIntervalMs: 0 });
    await b.queue.open();
    assert.deepEqual(b.faults, [['dropped-segment', 1]]);
    assert.match(b.warnings.join('\n'), /seg-0000000000000011\.jsonl: no readable record \(empty\); removed/);
    for (let i = 11; i <= 20; i++) await b.queue.append(msg(i));
    await b.queue.commit(b.queue.peek(100)[6].seq);
    await b.queue.close();
    const c = new DiskQueue({ dir, log: quiet });
    await c.open();
    assert.deepEqual(c.peek(100).map((m) => m.topic), Array.from({ length: 8 }, (_, i) => `t/${i + 13}`));
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('an existing segment is never appended to: each start writes a new file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
    const a = new DiskQueue({ dir, log: quiet });
    await a.open();
    await a.append(msg(1));
    await a.close();
    const [first] = await segFiles(dir);
    const before = await readFile(join(dir, first));
    const b = new DiskQueue({ dir, log: quiet });
    await b.open();
    await b.append(msg(2));
    await b.close();
    assert.deepEqual(await readFile(join(dir, first)), before);
    assert.equal((await segFiles(dir)).length, 2);
    await rm(dir, { recursive: true, force: true });
  });

  test('a torn-only segment is removed and counted; a corrupt record is counted, logged and skipped; old unchecksummed records still load', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
    const lines = [1, 2, 3].map((seq) => encodeRecord({ ...msg(seq), seq }).toString());
    lines[1] = lines[1].replace('{\\"i\\":2}', '{\\"i\\":7}'); // one bit of rot: the checksum no longer matches
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), lines.join(''));
    await writeFile(join(dir, 'seg-0000000000000004.jsonl'), `${JSON.stringify({ s: 4, t: 't/4', p: '{"i":4}', q: 1, r: 0, ts: Date.now() })}\n`);
    await writeFile(join(dir, 'seg-0000000000000005.jsonl'), encodeRecord({ ...msg(5), seq: 5 }).subarray(0, 30));
    const q = observed(dir);
    await q.queue.open();
    assert.deepEqual(q.queue.peek(10).map((m) => m.topic), ['t/1', 't/3', 't/4']);
    assert.deepEqual(q.faults.sort(), [['corrupt-record', 1], ['dropped-segment', 1], ['torn-record', 1]]);
    assert.deepEqual({ ...q.queue.faults }, { 'disk-full': 0, 'write-error': 0, 'corrupt-record': 1, 'torn-record': 1, 'dropped-segment': 1 });
    assert.match(q.warnings.join('\n'), /seg-0000000000000001\.jsonl: 1 corrupt record\(s\) skipped/);
    assert.deepEqual(await segFiles(dir), ['seg-0000000000000001.jsonl', 'seg-0000000000000004.jsonl']);
    await q.queue.append(msg(6));
    assert.equal(q.queue.peek(10).at(-1)!.seq, 5, 'seqs go on after the highest readable one');
    await q.queue.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('an unreadable committed.json sends everything again (at-least-once) and is counted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
    const a = new DiskQueue({ dir, commitIntervalMs: 0, log: quiet });
    await a.open();
    for (let i = 1; i <= 3; i++) await a.append(msg(i));
    await a.commit(2);
    await a.close();
    await writeFile(join(dir, 'committed.json'), '{"committed": "two"');
    const b = observed(dir);
    await b.queue.open();
    assert.equal(b.queue.depth, 3);
    assert.deepEqual(b.faults, [['corrupt-record', 1]]);
    await b.queue.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('ENOSPC on a real tmpfs: labels stay in memory, counted as disk-full, delivery goes on, and they are written once the disk grows', { timeout: 30_000 }, async (t) => {
    const dir = join(await mkdtemp(join(tmpdir(), 'edgeloom-q-')), 'small');
    const fs = await mountTmpfs(dir, 16 * 1024);
    if (typeof fs === 'string') {
      t.skip(fs);
      return;
    }
    try {
      const q = observed(dir, { retryIntervalMs: 50, commitIntervalMs: 0 });
      await q.queue.open();
      const big = (i: number) => ({ ...msg(i), payload: JSON.stringify({ i, pad: 'x'.repeat(1000) }) });
      let i = 0;
      while (q.queue.unwritten === 0) {
        await q.queue.append(big(++i));
        assert.ok(i < 100, 'a 16 KiB tmpfs is full after ~12 records of 1 KiB');
      }
      for (let k = 0; k < 5; k++) await q.queue.append(big(++i));
      assert.equal(q.queue.depth, i, 'nothing dropped');
      assert.equal(q.queue.unwritten, 6);
      assert.deepEqual(q.faults, [['disk-full', 1]], 'the label whose write failed; the next five wait for the retry timer');
      assert.match(q.warnings.join('\n'), /disk full \(ENOSPC/);
      await new Promise<void>((resolve) => {
        const check = setInterval(() => q.queue.faults['disk-full'] === 6 && (clearInterval(check), resolve()), 10);
      });
      assert.deepEqual(q.faults, [['disk-full', 1], ['disk-full', 5]], 'the retry failed too: each label counted once');
      // Delivery goes on from memory while the disk is full.
      await q.queue.commit(q.queue.peek(3)[2].seq);
      await fs.resize(1024 * 1024);
      await q.queue.flush();
      assert.equal(q.queue.unwritten, 0);
      assert.match(q.warnings.join('\n'), /disk full/);
      await q.queue.close();
      const r = new DiskQueue({ dir, log: quiet });
      await r.open();
      assert.deepEqual(r.peek(100).map((m) => m.topic), Array.from({ length: i - 3 }, (_, k) => `t/${k + 4}`));
      await r.close();
    } finally {
      await fs.unmount();
    }
  });
});
