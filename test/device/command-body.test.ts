import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, parseBody } from '../../device/features/commands.ts';
import { COMMAND_DEFAULTS, OPT_IN_COMMANDS, SerialQueue, TokenBucket } from '../../device/features/command-queue.ts';
import type { CommandName } from '../../src/mqtt/topics.ts';

/**
 * Command bodies as they arrive from the network, checked without an agent (pure): every field
 * bounded, unknown fields refused, the requestId echoed only when it is a short string. The rate
 * limiter and the serial queue at their edges.
 */

const parse = (name: CommandName, body: string) => parseBody(name, Buffer.from(body));

/** The refusal parseBody throws: always `bad-body`, with the requestId it could read. */
function refusal(name: CommandName, body: string): { message: string; requestId: string | null | undefined } {
  try {
    parse(name, body);
  } catch (err) {
    assert.ok(err instanceof CommandError, String(err));
    assert.equal(err.code, 'bad-body');
    return { message: err.message, requestId: (err as { requestId?: string | null }).requestId };
  }
  assert.fail(`${name} ${body}: accepted`);
}

describe('command bodies', () => {
  test('an empty or blank body is {}; a valid one comes back as parsed, with its requestId', () => {
    assert.deepEqual(parse('pause', ''), { requestId: null, body: {} });
    assert.deepEqual(parse('resume', '  \n\t '), { requestId: null, body: {} });
    assert.deepEqual(parse('set-fps', ' {"fps": 2.5, "camera": "door", "requestId": "r1"} '), { requestId: 'r1', body: { fps: 2.5, camera: 'door', requestId: 'r1' } });
    assert.deepEqual(parse('snapshot', '{"camera":"cam0"}'), { requestId: null, body: { camera: 'cam0' } });
    assert.deepEqual(parse('switch-model', `{"model":"v2.onnx","sha256":"${'aB'.repeat(32)}"}`).body, { model: 'v2.onnx', sha256: 'aB'.repeat(32) });
    assert.deepEqual(parse('reload-model', '{}').body, {});
  });

  test('not JSON, or not an object: refused, saying which', () => {
    assert.match(refusal('pause', '{nope').message, /^body: not JSON \(.+\)$/);
    assert.equal(refusal('pause', '{nope').requestId, undefined);
    for (const body of ['[1]', '[]', 'null', '7', '"text"', 'true']) {
      const r = refusal('pause', body);
      assert.equal(r.message, 'body: expected a JSON object', body);
    }
  });

  test('unknown fields are refused (strict bodies), naming the body', () => {
    const r = refusal('pause', '{"requestId":"e","extra":1}');
    assert.match(r.message, /^body: .*extra/);
    assert.equal(r.requestId, 'e');
    assert.match(refusal('set-fps', '{"fps":5,"camera":"c","x":0}').message, /^body: /);
  });

  test('set-fps: 0.01 to 120 fps; below, above, not a number or missing is refused at the fps field', () => {
    assert.equal(parse('set-fps', '{"fps":0.01}').body.fps, 0.01);
    assert.equal(parse('set-fps', '{"fps":120}').body.fps, 120);
    for (const fps of ['1e-7', '0.0099', '0', '-1', '120.5', '1e999', '"5"', '[5]', 'null']) {
      const r = refusal('set-fps', `{"fps":${fps},"requestId":"f"}`);
      assert.match(r.message, /^fps: /, fps);
      assert.equal(r.requestId, 'f');
    }
    assert.match(refusal('set-fps', '{}').message, /^fps: /);
  });

  test('requestId: up to 128 characters, echoed; longer or not a string is refused and not echoed', () => {
    assert.equal(parse('pause', JSON.stringify({ requestId: 'y'.repeat(128) })).requestId, 'y'.repeat(128));
    const long = refusal('pause', JSON.stringify({ requestId: 'x'.repeat(129) }));
    assert.match(long.message, /^requestId: /);
    assert.equal(long.requestId, null);
    assert.equal(refusal('pause', JSON.stringify({ requestId: 5 })).requestId, null);
  });

  test('camera ids: 1 to 64 characters', () => {
    assert.equal(parse('pause', JSON.stringify({ camera: 'c'.repeat(64) })).body.camera, 'c'.repeat(64));
    assert.match(refusal('pause', JSON.stringify({ camera: '' })).message, /^camera: /);
    assert.match(refusal('pause', JSON.stringify({ camera: 'c'.repeat(65) })).message, /^camera: /);
    assert.match(refusal('snapshot', JSON.stringify({ camera: 3 })).message, /^camera: /);
  });

  test('models: a name of 1 to 255 characters, never a path; sha256 is 64 hex digits', () => {
    assert.equal(parse('switch-model', JSON.stringify({ model: 'm'.repeat(255) })).body.model, 'm'.repeat(255));
    assert.match(refusal('switch-model', JSON.stringify({ model: 'm'.repeat(256) })).message, /^model: /);
    assert.match(refusal('switch-model', JSON.stringify({ model: '' })).message, /^model: /);
    assert.match(refusal('switch-model', '{}').message, /^model: /);
    const path = refusal('switch-model', JSON.stringify({ path: '/etc/passwd', requestId: 'p' }));
    assert.deepEqual(path, { message: 'path: not accepted; name a file of the model directory instead: {"model": "v2.onnx"}', requestId: 'p' });
    assert.match(refusal('switch-model', JSON.stringify({ path: 'x', model: 'a.onnx' })).message, /^path: not accepted/);
    assert.match(refusal('reload-model', JSON.stringify({ path: 'x' })).message, /^body: /, 'only switch-model names the path field specially');
    for (const sha of ['ab', 'g'.repeat(64), 'a'.repeat(65)]) assert.equal(refusal('reload-model', JSON.stringify({ sha256: sha })).message, 'sha256: expected 64 hex digits');
  });
});

describe('command limits', () => {
  test('defaults: burst 10 at 1/s, 10 queued, 64 KiB bodies, nothing disabled, snapshot opt-in', () => {
    assert.deepEqual(COMMAND_DEFAULTS, { disabled: [], enabled: [], burst: 10, ratePerS: 1, maxQueued: 10, maxPayloadBytes: 64 * 1024 });
    assert.deepEqual([...OPT_IN_COMMANDS], ['snapshot']);
  });

  test('token bucket: refills in proportion to the time passed, never above the burst', () => {
    const b = new TokenBucket(2, 4, 1000);
    assert.deepEqual([b.take(1000), b.take(1000), b.take(1000)], [true, true, false]);
    assert.equal(b.take(1249), false, '0.996 tokens after 249 ms at 4/s');
    assert.equal(b.take(1250), true, 'a whole token after 250 ms');
    assert.equal(b.take(1250), false);
    assert.deepEqual([b.take(2000), b.take(2000), b.take(2000)], [true, true, false], '3 tokens earned, 2 kept');
  });

  test('serial queue: a failing job is reported and the next one runs; an empty queue stops at once', async () => {
    const errors: string[] = [];
    const q = new SerialQueue(5, (e) => errors.push(e.message));
    const ran: number[] = [];
    assert.equal(q.push(async () => { throw new Error('job 1 failed'); }), true);
    assert.equal(q.push(async () => void ran.push(2)), true);
    assert.equal(q.length, 1, 'the first runs, the second waits');
    assert.equal(await q.stop(), 1);
    assert.deepEqual(errors, ['job 1 failed']);
    assert.deepEqual(ran, [], 'a waiting job is discarded by stop');
    const idle = new SerialQueue(1, () => {});
    assert.equal(await idle.stop(), 0);
    const again = new SerialQueue(1, () => {});
    const later: number[] = [];
    assert.equal(again.push(async () => void later.push(3)), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(again.push(async () => void later.push(4)), true, 'after the queue ran dry it starts again');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(later, [3, 4]);
    assert.equal(again.length, 0);
  });
});
