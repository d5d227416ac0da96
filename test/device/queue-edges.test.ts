import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskQueue } from '../../device/queue/disk.ts';
import { decodeSegment, encodeRecord } from '../../device/queue/record.ts';

/** What the second mutation run of the queue found unpinned (docs/testing.md). */

const msg = (i: number) => ({ topic: `t/${i}`, payload: JSON.stringify({ i }), qos: 1 as const, ts: Date.now() });

test('a segment whose last record lacks only its newline keeps that record', () => {
  const a = encodeRecord({ ...msg(1), seq: 1 }).toString();
  const b = encodeRecord({ ...msg(2), seq: 2 }).toString().trimEnd();
  const seg = decodeSegment(a + b);
  assert.deepEqual(seg.records.map((r) => r.seq), [1, 2]);
  assert.deepEqual([seg.corrupt, seg.torn], [0, false]);
});

test('appends without a drop never move the committed seq back; a clean close logs nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-qe-'));
  const lines: string[] = [];
  const push = (m: string) => lines.push(m);
  const q = new DiskQueue({ dir, commitIntervalMs: 0, log: { debug: push, info: push, warn: push, error: push } });
  await q.open();
  for (let i = 1; i <= 3; i++) await q.append(msg(i));
  await q.commit(2);
  await q.append(msg(4));
  assert.equal(await readFile(join(dir, 'committed.json'), 'utf8'), '{"committed":2}\n');
  await q.close();
  assert.deepEqual(lines, []);
  await rm(dir, { recursive: true, force: true });
});

test('an option given as undefined keeps its default: the commit interval stays 1 s', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-qe-'));
  const q = new DiskQueue({ dir, commitIntervalMs: undefined, log: { debug() {}, info() {}, warn() {}, error() {} } });
  await q.open();
  await q.append(msg(1));
  await q.commit(1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await assert.rejects(readFile(join(dir, 'committed.json')), /ENOENT/, 'not written within 100 ms');
  await q.close();
  assert.equal(await readFile(join(dir, 'committed.json'), 'utf8'), '{"committed":1}\n');
  await rm(dir, { recursive: true, force: true });
});
