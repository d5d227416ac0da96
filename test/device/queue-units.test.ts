import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISK_QUEUE_DEFAULTS, DiskQueue } from '../../device/queue/disk.ts';
import { MemoryQueue, messageBytes } from '../../device/queue/memory.ts';
import { decodeLine, decodeSegment, encodeRecord } from '../../device/queue/record.ts';
import { DEFAULT_QUEUE_BOUNDS, type QueueFault } from '../../device/queue/types.ts';
import { UserError } from '../../src/errors.ts';

/**
 * The queue's record format, its bounds at their edges, and the disk queue's file handling
 * (names it reads and ignores, what it deletes when, commit and write failures), in-process on
 * small temp directories. The contract shared with the memory queue is test/device/queue.test.ts.
 */

const msg = (i: number, ts = Date.now()) => ({ topic: `t/${i}`, payload: JSON.stringify({ i }), qos: 1 as const, ts });
const sha8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);
const checked = (json: string) => `${sha8(json)} ${json}`;
const tmp = () => mkdtemp(join(tmpdir(), 'edgeloom-qu-'));
const segFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();

function observed(dir: string, opts: Partial<ConstructorParameters<typeof DiskQueue>[0]> = {}) {
  const lines: string[] = [];
  const faults: [QueueFault, number][] = [];
  const push = (m: string) => lines.push(m);
  const queue = new DiskQueue({ dir, log: { debug: push, info: push, warn: push, error: push }, onFault: (f, n) => faults.push([f, n]), ...opts });
  return { queue, lines, faults };
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('queue records', () => {
  test('a record is `<first 8 hex of sha256(json)> <json>\\n` and reads back whole', () => {
    const m = { topic: 'a/b', payload: '{"x":"ü"}', qos: 2 as const, retain: true, ts: 1234, seq: 42 };
    const line = encodeRecord(m).toString();
    assert.ok(line.endsWith('\n'));
    const json = line.slice(9, -1);
    assert.equal(line.slice(0, 9), `${sha8(json)} `);
    assert.deepEqual(JSON.parse(json), { s: 42, t: 'a/b', p: '{"x":"ü"}', q: 2, r: 1, ts: 1234 });
    assert.deepEqual(decodeLine(line.slice(0, -1)), m);
    assert.deepEqual(decodeLine(encodeRecord({ ...m, retain: false, qos: 0 }).toString().trim()), { ...m, retain: false, qos: 0 });
  });

  test('damaged lines are null: bad checksum, text around the record, bad JSON, missing or wrong fields', () => {
    const good = JSON.stringify({ s: 1, t: 't', p: 'p', q: 1, r: 0, ts: 5 });
    assert.ok(decodeLine(checked(good)));
    const bad = [
      `00000000 ${good}`,
      `${checked(good)} trailing`,
      `x${checked(good)}`,
      checked('{not json}'),
      checked(JSON.stringify({ s: 0, t: 't', p: 'p' })),
      checked(JSON.stringify({ s: -3, t: 't', p: 'p' })),
      checked(JSON.stringify({ s: 1.5, t: 't', p: 'p' })),
      checked(JSON.stringify({ s: '1', t: 't', p: 'p' })),
      checked(JSON.stringify({ s: 1, t: 7, p: 'p' })),
      checked(JSON.stringify({ s: 1, t: 't', p: null })),
      checked(JSON.stringify({ s: 1, p: 'p' })),
      checked(JSON.stringify({ s: 1, t: 't' })),
      '{"s":1,"t":"t"',
    ];
    for (const line of bad) assert.equal(decodeLine(line), null, line);
  });

  test('field defaults: QoS other than 0 or 2 reads as 1, retain only when 1, a missing time is 0; old lines without checksum load', () => {
    const read = (fields: Record<string, unknown>) => decodeLine(checked(JSON.stringify({ s: 9, t: 't', p: 'p', ...fields })))!;
    assert.equal(read({ q: 0 }).qos, 0);
    assert.equal(read({ q: 2 }).qos, 2);
    assert.equal(read({ q: 1 }).qos, 1);
    assert.equal(read({ q: 5 }).qos, 1);
    assert.equal(read({}).qos, 1);
    assert.equal(read({ r: 1 }).retain, true);
    assert.equal(read({ r: 0 }).retain, false);
    assert.equal(read({ r: true }).retain, false);
    assert.equal(read({ ts: 77 }).ts, 77);
    assert.equal(read({ ts: '77' }).ts, 0);
    assert.equal(read({}).ts, 0);
    assert.deepEqual(decodeLine(JSON.stringify({ s: 3, t: 'old', p: 'x', q: 0, r: 1, ts: 8 })), { seq: 3, topic: 'old', payload: 'x', qos: 0, retain: true, ts: 8 });
  });

  test('a segment: blank lines are no damage, a complete last line without newline is kept, a torn one is flagged', () => {
    const a = encodeRecord({ ...msg(1), seq: 1 }).toString();
    const b = encodeRecord({ ...msg(2), seq: 2 }).toString();
    assert.deepEqual(decodeSegment(`${a}\n${b}`), { records: [decodeLine(a.trim())!, decodeLine(b.trim())!], corrupt: 0, torn: false });
    const torn = decodeSegment(`${a}${b.slice(0, 20)}`);
    assert.deepEqual([torn.records.length, torn.corrupt, torn.torn], [1, 0, true]);
    const rot = decodeSegment(`${a}${b.replace('t/2', 't/3')}`);
    assert.deepEqual([rot.records.length, rot.corrupt, rot.torn], [1, 1, false]);
    assert.deepEqual(decodeSegment(''), { records: [], corrupt: 0, torn: false });
  });
});

describe('queue bounds at their edges', () => {
  test('a message costs its topic and payload bytes (UTF-8) plus 16', async () => {
    const m = { topic: 'tö', payload: 'ü€', qos: 1 as const, ts: Date.now() };
    assert.equal(messageBytes(m), 3 + 5 + 16);
    const q = new MemoryQueue({ maxBytes: 2 * (3 + 5 + 16) });
    await q.append(m);
    await q.append(m);
    assert.equal(q.bytes, 48);
    assert.equal(q.depth, 2, 'exactly at the byte bound: nothing dropped');
    await q.append(m);
    assert.equal(q.depth, 2);
    assert.equal(q.dropped.byReason['max-bytes'], 1);
    await q.commit(q.peek(10)[1].seq);
    assert.equal(q.bytes, 0);
  });

  test('a message exactly maxAge old stays; one ms older is dropped; an empty queue peeks empty', async () => {
    let now = 10_000;
    const q = new MemoryQueue({ maxAgeMs: 1000 }, () => now);
    assert.deepEqual(q.peek(5), []);
    await q.append(msg(1, 9000));
    await q.append(msg(2, 9500));
    assert.equal(q.depth, 2);
    now = 10_001;
    assert.deepEqual(q.peek(5).map((m) => m.topic), ['t/2']);
    assert.equal(q.dropped.total, 1);
    now = 100_000;
    assert.deepEqual(q.peek(5), []);
    assert.deepEqual(q.dropped.byReason, { 'max-messages': 0, 'max-bytes': 0, 'max-age': 2 });
  });

  test('a message larger than the byte bound is dropped by itself', async () => {
    const q = new MemoryQueue({ maxBytes: 10 });
    await q.append(msg(1));
    assert.equal(q.depth, 0);
    assert.equal(q.bytes, 0);
    assert.equal(q.dropped.byReason['max-bytes'], 1);
  });

  test('defaults: 100,000 messages, 64 MiB, 7 days', async () => {
    assert.deepEqual(DEFAULT_QUEUE_BOUNDS, { maxMessages: 100_000, maxBytes: 64 * 1024 * 1024, maxAgeMs: 7 * 24 * 3600 * 1000 });
    let now = 0;
    const q = new MemoryQueue({}, () => now);
    await q.append(msg(1, 0));
    now = 7 * 24 * 3600 * 1000;
    assert.equal(q.peek(1).length, 1, 'a week old: kept');
    now += 1;
    assert.equal(q.peek(1).length, 0);
    assert.equal(new MemoryQueue().unwritten, 0);
  });

  test('an old commit never moves the committed seq back; dropped labels count as delivered on disk too', async () => {
    const dir = await tmp();
    const a = new DiskQueue({ dir, commitIntervalMs: 0, log: quiet });
    await a.open();
    for (let i = 1; i <= 6; i++) await a.append(msg(i));
    await a.commit(4);
    await a.commit(2);
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'committed.json'), 'utf8')), { committed: 4 });
    await a.close();
    const b = new DiskQueue({ dir, commitIntervalMs: 0, bounds: { maxMessages: 3 }, log: quiet });
    await b.open();
    assert.deepEqual(b.peek(10).map((m) => m.seq), [5, 6]);
    for (let i = 7; i <= 9; i++) await b.append(msg(i));
    assert.deepEqual(b.peek(10).map((m) => m.seq), [7, 8, 9]);
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'committed.json'), 'utf8')), { committed: 6 }, 'the dropped ones are never sent again');
    await b.close();
    const c = new DiskQueue({ dir, log: quiet });
    await c.open();
    assert.deepEqual(c.peek(10).map((m) => m.seq), [7, 8, 9]);
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });
});

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

describe('DiskQueue files', () => {
  test('defaults: 4 MiB segments, fsync and commit every second, retry every second', () => {
    assert.deepEqual(DISK_QUEUE_DEFAULTS, { segmentBytes: 4 * 1024 * 1024, fsyncIntervalMs: 1000, commitIntervalMs: 1000, retryIntervalMs: 1000 });
  });

  test('one segment holds many records by default; an undefined option keeps its default; a small segmentBytes rotates', async () => {
    const dir = await tmp();
    const a = new DiskQueue({ dir, log: quiet, segmentBytes: undefined });
    await a.open();
    for (let i = 1; i <= 5; i++) await a.append(msg(i));
    assert.deepEqual(await segFiles(dir), ['seg-0000000000000001.jsonl']);
    await a.close();
    const dir2 = await tmp();
    const b = new DiskQueue({ dir: dir2, log: quiet, segmentBytes: encodeRecord({ ...msg(1), seq: 1 }).length * 2 });
    await b.open();
    for (let i = 1; i <= 5; i++) await b.append(msg(i));
    assert.deepEqual(await segFiles(dir2), ['seg-0000000000000001.jsonl', 'seg-0000000000000003.jsonl', 'seg-0000000000000005.jsonl'], 'two records a segment');
    await b.close();
    await rm(dir, { recursive: true, force: true });
    await rm(dir2, { recursive: true, force: true });
  });

  test('only seg-<16 digits>[-<1..4 digits>].jsonl files are segments; stale .committed.json.*.tmp files are removed', async () => {
    const dir = await tmp();
    const line = (seq: number) => encodeRecord({ ...msg(seq), seq }).toString();
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), line(1));
    await writeFile(join(dir, 'seg-0000000000000001-12.jsonl'), line(2));
    const foreign = ['xseg-0000000000000003.jsonl', 'seg-0000000000000004.jsonl.bak', 'seg-5.jsonl', 'seg-0000000000000006-abc.jsonl', 'seg-0000000000000007-12345.jsonl'];
    for (const [i, n] of foreign.entries()) await writeFile(join(dir, n), line(3 + i));
    await writeFile(join(dir, '.committed.json.123.abcd.tmp'), '{}');
    const keep = ['x.committed.json.1.tmp', '.committed.json.1.tmp.keep'];
    for (const n of keep) await writeFile(join(dir, n), '{}');
    const q = new DiskQueue({ dir, log: quiet });
    await q.open();
    assert.deepEqual(q.peek(10).map((m) => m.seq), [1, 2]);
    const names = await readdir(dir);
    assert.ok(!names.includes('.committed.json.123.abcd.tmp'));
    for (const n of [...foreign, ...keep]) assert.ok(names.includes(n), `${n} is not ours: left alone`);
    await q.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('records load in seq order whatever file they are in; a seq seen twice loads once; seqs go on after the highest', async () => {
    const dir = await tmp();
    const line = (seq: number) => encodeRecord({ ...msg(seq), seq }).toString();
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), line(5) + line(6));
    await writeFile(join(dir, 'seg-0000000000000002.jsonl'), line(3) + line(6));
    const q = new DiskQueue({ dir, log: quiet });
    await q.open();
    assert.deepEqual(q.peek(10).map((m) => m.seq), [3, 5, 6]);
    await q.append(msg(7));
    assert.equal(q.peek(10).at(-1)!.seq, 7);
    await q.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a segment whose highest record is exactly the committed seq is deleted at open; one above it stays', async () => {
    const dir = await tmp();
    const line = (seq: number) => encodeRecord({ ...msg(seq), seq }).toString();
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), line(1) + line(2));
    await writeFile(join(dir, 'seg-0000000000000003.jsonl'), line(3));
    await writeFile(join(dir, 'committed.json'), '{"committed":2}\n');
    const q = new DiskQueue({ dir, log: quiet });
    await q.open();
    assert.deepEqual(await segFiles(dir), ['seg-0000000000000003.jsonl']);
    assert.deepEqual(q.peek(10).map((m) => m.seq), [3]);
    await q.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('committed.json: 0 is valid; negative, fractional or missing values are unreadable, counted and logged', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), encodeRecord({ ...msg(1), seq: 1 }));
    await writeFile(join(dir, 'committed.json'), '{"committed":0}');
    const ok = observed(dir);
    await ok.queue.open();
    assert.deepEqual(ok.faults, []);
    assert.equal(ok.queue.depth, 1);
    await ok.queue.close();
    for (const text of ['{"committed":-1}', '{"committed":0.5}', '{}']) {
      await writeFile(join(dir, 'committed.json'), text);
      const q = observed(dir);
      await q.queue.open();
      assert.deepEqual(q.faults, [['corrupt-record', 1]], text);
      assert.deepEqual(q.lines, [`queue ${join(dir, 'committed.json')}: unreadable (no "committed" integer); every queued label will be sent again`]);
      await q.queue.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('a queue dir that cannot be created: a UserError naming it and why', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'file'), 'x');
    const q = new DiskQueue({ dir: join(dir, 'file', 'queue'), log: quiet });
    await assert.rejects(q.open(), (e: Error) => e instanceof UserError && e.message === `queue dir ${join(dir, 'file', 'queue')}: cannot create (ENOTDIR)`);
    await rm(dir, { recursive: true, force: true });
  });

  test('a torn-only segment says so when removed', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), encodeRecord({ ...msg(1), seq: 1 }).subarray(0, 20));
    const q = observed(dir);
    await q.queue.open();
    assert.deepEqual(q.lines, [`queue ${join(dir, 'seg-0000000000000001.jsonl')}: no readable record (only a torn write); removed`]);
    await q.queue.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a segment name taken by another file: the next free suffix', async () => {
    const dir = await tmp();
    const q = new DiskQueue({ dir, log: quiet });
    await q.open();
    await writeFile(join(dir, 'seg-0000000000000001.jsonl'), 'someone else\'s');
    await writeFile(join(dir, 'seg-0000000000000001-1.jsonl'), 'and this');
    await q.append(msg(1));
    await q.flush();
    assert.deepEqual(await segFiles(dir), ['seg-0000000000000001-1.jsonl', 'seg-0000000000000001-2.jsonl', 'seg-0000000000000001.jsonl']);
    assert.equal(await readFile(join(dir, 'seg-0000000000000001.jsonl'), 'utf8'), 'someone else\'s');
    assert.deepEqual(decodeSegment(await readFile(join(dir, 'seg-0000000000000001-2.jsonl'), 'utf8')).records.map((r) => r.seq), [1]);
    await q.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('DiskQueue commits', () => {
  test('delivered segments are deleted as soon as the commit is written, the one being written stays; a vanished file is no error', async () => {
    const dir = await tmp();
    const q = observed(dir, { commitIntervalMs: 0, segmentBytes: 1 });
    await q.queue.open();
    for (let i = 1; i <= 4; i++) await q.queue.append(msg(i));
    assert.equal((await segFiles(dir)).length, 4);
    await rm(join(dir, 'seg-0000000000000001.jsonl'));
    await q.queue.commit(3);
    assert.deepEqual(await segFiles(dir), ['seg-0000000000000004.jsonl']);
    await q.queue.commit(4);
    assert.deepEqual(await segFiles(dir), ['seg-0000000000000004.jsonl'], 'still being written');
    assert.deepEqual(q.lines, []);
    await q.queue.close();
    assert.deepEqual(await segFiles(dir), []);
    await rm(dir, { recursive: true, force: true });
  });

  test('with a commit interval, committed.json is written by the timer, not by commit(); close writes it at once', async () => {
    const dir = await tmp();
    const q = new DiskQueue({ dir, commitIntervalMs: 40, log: quiet });
    await q.open();
    for (let i = 1; i <= 3; i++) await q.append(msg(i));
    await q.commit(1);
    const file = join(dir, 'committed.json');
    await assert.rejects(readFile(file), /ENOENT/);
    await until(async () => (await readFile(file, 'utf8').catch(() => '')) === '{"committed":1}\n');
    await q.commit(2);
    await until(async () => (await readFile(file, 'utf8').catch(() => '')) === '{"committed":2}\n');
    await q.commit(3);
    await q.close();
    assert.equal(await readFile(file, 'utf8'), '{"committed":3}\n');
    await rm(dir, { recursive: true, force: true });
  });

  test('committed.json that cannot be written: one warning, retried by the timer, one line when it works again', async () => {
    const dir = await tmp();
    const q = observed(dir, { commitIntervalMs: 20 });
    await q.queue.open();
    for (let i = 1; i <= 3; i++) await q.queue.append(msg(i));
    // A directory in its place: the atomic rename over it fails.
    await mkdir(join(dir, 'committed.json', 'blocker'), { recursive: true });
    await q.queue.commit(1);
    await until(() => q.lines.length >= 1);
    await q.queue.commit(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(q.lines.length, 1, q.lines.join('\n'));
    assert.match(q.lines[0], new RegExp(`^queue ${dir}: cannot write committed\\.json \\(E[A-Z]+\\); retrying, a restart meanwhile sends some labels twice$`));
    await rm(join(dir, 'committed.json'), { recursive: true });
    await until(() => q.lines.length >= 2);
    assert.equal(q.lines[1], `queue ${dir}: committed.json written again`);
    await until(async () => (await readFile(join(dir, 'committed.json'), 'utf8').catch(() => '')) === '{"committed":2}\n');
    await q.queue.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('DiskQueue write failures', () => {
  test('a write that fails (directory gone): write-error counted once per label, labels held and retried, written once it works, delivered ones skipped', async () => {
    const dir = join(await tmp(), 'q');
    const q = observed(dir, { retryIntervalMs: 30 });
    await q.queue.open();
    await rm(dir, { recursive: true });
    for (let i = 1; i <= 4; i++) await q.queue.append(msg(i));
    assert.equal(q.queue.unwritten, 4);
    assert.equal(q.queue.depth, 4);
    assert.deepEqual(q.faults, [['write-error', 1]], 'the label whose write failed; the rest wait for the retry');
    assert.match(q.lines[0], new RegExp(`^queue ${dir}: cannot write \\(ENOENT: .*\\); labels stay in memory \\(within queue\\.maxBytes\\) and are written again every 30 ms$`));
    await until(() => q.queue.faults['write-error'] === 4);
    assert.deepEqual(q.faults, [['write-error', 1], ['write-error', 3]], 'a retry that fails counts only labels not counted yet');
    assert.equal(q.lines.filter((l) => l.includes('cannot write')).length, 1, 'one warning per episode');
    await q.queue.commit(2);
    await mkdir(dir, { recursive: true });
    await until(() => q.queue.unwritten === 0);
    assert.ok(q.lines.includes(`queue ${dir}: writable again after 0 s; the labels held in memory are on disk`), q.lines.join('\n'));
    const [seg] = await segFiles(dir);
    assert.deepEqual(decodeSegment(await readFile(join(dir, seg), 'utf8')).records.map((r) => r.seq), [3, 4], 'delivered labels are not written');
    await q.queue.close();
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  test('everything delivered while the disk failed: nothing left to write', async () => {
    const dir = join(await tmp(), 'q');
    const q = observed(dir, { retryIntervalMs: 20 });
    await q.queue.open();
    await rm(dir, { recursive: true });
    for (let i = 1; i <= 2; i++) await q.queue.append(msg(i));
    await q.queue.commit(2);
    await mkdir(dir, { recursive: true });
    await until(() => q.queue.unwritten === 0);
    assert.deepEqual(await segFiles(dir), []);
    await q.queue.close();
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  test('labels still unwritten at close are reported lost, with the error; no retry after close', async () => {
    const dir = join(await tmp(), 'q');
    const q = observed(dir, { retryIntervalMs: 20 });
    await q.queue.open();
    await rm(dir, { recursive: true });
    await q.queue.append(msg(1));
    await q.queue.append(msg(2));
    await q.queue.close();
    assert.equal(q.lines.at(-1), `queue ${dir}: 2 undelivered label(s) could not be written (ENOENT) and are lost with this stop`);
    await mkdir(dir);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(await segFiles(dir), [], 'a closed queue writes nothing more');
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  test('appends after close are not written', async () => {
    const dir = await tmp();
    const q = new DiskQueue({ dir, log: quiet });
    await q.open();
    await q.close();
    await q.append(msg(1));
    assert.equal(q.unwritten, 1);
    assert.deepEqual(await segFiles(dir), []);
    await rm(dir, { recursive: true, force: true });
  });
});
