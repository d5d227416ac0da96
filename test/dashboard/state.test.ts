import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetState, LIMITS, STALLED_AFTER_S, parseTopic, subscriptions } from '../../dashboard/app/state.ts';
import { snapshotUrl } from '../../dashboard/app/dom.ts';
import { brokerUrlFor } from '../../dashboard/app/broker-url.ts';
import { deviceTopics } from '../../src/mqtt/topics.ts';

/** The page's fleet state, driven with the messages an agent publishes and with hostile ones. */
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const t = deviceTopics('pi1', 'plant/a');
const label = (frame: number, name = 'Bag') => ({ ts: new Date(1000 * frame).toISOString(), frame, label: name, classId: 8, confidence: 0.9, top: [{ label: name, classId: 8, confidence: 0.9 }],
  latencyMs: { decode: 1, preprocess: 1, inference: 0.5, total: 3 }, model: { id: 'm', sha256: 'x' }, device: 'pi1', camera: 'cam0' });
const info = { version: '0.1.0', deviceId: 'pi1', startedAt: new Date(0).toISOString(), model: { id: 'm', sha256: 'x', path: 'models/m.onnx', arch: null, metrics: null, classes: [] },
  provider: 'cpu', availableModels: ['m.onnx'], cameras: [{ id: 'cam0', source: 'x', fps: 2, roi: null }] };

test('topics are recognised by the topic module\'s layout, under any prefix; anything else is ignored', () => {
  assert.deepEqual(parseTopic('plant/a', t.status), { kind: 'status', device: 'pi1' });
  assert.deepEqual(parseTopic('plant/a', t.label('cam0')), { kind: 'label', device: 'pi1', camera: 'cam0' });
  assert.deepEqual(parseTopic('plant/a', t.lastLabel('cam0')), { kind: 'last-label', device: 'pi1', camera: 'cam0' });
  assert.deepEqual(parseTopic('plant/a', t.commandResult('set-fps')), { kind: 'result', device: 'pi1', command: 'set-fps' });
  for (const bad of [t.command('pause'), 'plant/a/pi1/cmd/rm-rf/result', 'plant/a/pi1', 'plant/b/pi1/status', 'plant/a/p ' +
    'i/status', 'plant/a/pi1/cam0/label/extra', `plant/a/${'x'.repeat(65)}/status`]) {
    assert.equal(parseTopic('plant/a', bad), null, bad);
  }
  assert.ok(subscriptions('plant/a').includes('plant/a/+/+/last-label'));
  assert.ok(subscriptions('plant/a').every((s) => !s.includes('#')));
});

test('status, info, labels and commands build the device; malformed or oversized messages are refused', () => {
  const s = new FleetState('plant/a');
  assert.equal(s.handle(t.status, enc('online'), 0), true);
  assert.equal(s.handle(t.info, enc(info), 0), true);
  for (let f = 1; f <= 20; f++) assert.equal(s.handle(t.label('cam0'), enc(label(f, f % 2 ? 'Bag' : 'Coat')), f * 100), true);
  const d = s.devices.get('pi1')!;
  const c = d.cameras.get('cam0')!;
  assert.equal(c.lastLabel!.frame, 20);
  assert.equal(c.recent.length, LIMITS.recentLabels);
  assert.deepEqual([...c.classCounts], [['Bag', 10], ['Coat', 10]]);
  assert.equal(s.liveRates(c, 2000).fps, 4, '20 labels in the last 5 s');
  assert.equal(s.handle(t.status, enc('maybe'), 0), false);
  assert.equal(s.handle(t.label('cam0'), enc('{not json'), 0), false);
  assert.equal(s.handle(t.label('cam0'), enc({ ...label(21), label: 'x'.repeat(100) }), 0), false);
  assert.equal(s.handle(t.label('cam0'), new Uint8Array(LIMITS.messageBytes + 1), 0), false);
  assert.equal(s.handle(t.drift('cam0'), enc({ status: 'bad' }), 0), false);
  assert.equal(s.handle(t.commandResult('pause'), enc({ ok: true, command: 'pause', requestId: 'r1', data: {} }), 0), true);
  assert.equal(d.replies.at(-1)!.requestId, 'r1');
  assert.equal(c.lastLabel!.frame, 20, 'refused messages changed nothing');
});

test('bounded: devices and cameras beyond the limits are dropped, not stored', () => {
  const s = new FleetState('edgeloom');
  for (let i = 0; i < LIMITS.devices + 5; i++) s.handle(`edgeloom/d${i}/status`, enc('online'), 0);
  assert.equal(s.devices.size, LIMITS.devices);
  for (let i = 0; i < LIMITS.camerasPerDevice + 5; i++) s.handle(`edgeloom/d0/c${i}/last-label`, enc(label(1)), 0);
  assert.equal(s.devices.get('d0')!.cameras.size, LIMITS.camerasPerDevice);
});

test('alerts: offline, a stalled camera (not when paused), drift not ok; devices with problems sort first', () => {
  const s = new FleetState('edgeloom');
  const a = deviceTopics('a');
  const b = deviceTopics('b');
  const z = deviceTopics('z');
  s.handle(a.status, enc('online'), 0);
  s.handle(a.label('cam0'), enc(label(1)), 0);
  s.handle(b.status, enc('online'), 0);
  s.handle(z.status, enc('online'), 0);
  s.handle(z.label('cam0'), enc(label(1)), 0);
  assert.deepEqual(s.alerts(1000), []);
  assert.deepEqual(s.sortedDevices(1000).map((d) => d.id), ['a', 'b', 'z']);
  const late = (STALLED_AFTER_S + 1) * 1000;
  s.handle(z.label('cam0'), enc(label(2)), late - 500);
  assert.deepEqual(s.alerts(late).map((x) => [x.device, x.kind, x.severity]), [['a', 'stalled', 2]]);
  s.handle(a.stats, enc({ cameras: { cam0: { paused: true } } }), late);
  assert.deepEqual(s.alerts(late), [], 'a paused camera is not stalled');
  s.handle(z.drift('cam0'), enc({ status: 'warn', reasons: ['psi.sharpness 0.3 > 0.2'], metrics: { 'psi.sharpness': { value: 0.3, threshold: 0.2 } }, estimatedAccuracy: 0.9 }), late);
  s.handle(b.status, enc('offline'), late);
  const alerts = s.alerts(late);
  assert.deepEqual(alerts.map((x) => [x.device, x.kind, x.severity]), [['b', 'offline', 3], ['z', 'drift', 1]]);
  assert.equal(alerts[1].text, 'z/cam0: drift warn: psi.sharpness 0.3 > 0.2');
  assert.ok(Math.abs(s.devices.get('z')!.cameras.get('cam0')!.driftHistory[0].worst - 1.5) < 1e-9, 'worst metric 0.3 / 0.2');
  assert.deepEqual(s.sortedDevices(late).map((d) => d.id), ['b', 'z', 'a']);
});

test('snapshots are shown only when they are JPEG or PNG bytes', () => {
  assert.match(snapshotUrl(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]).toString('base64'))!, /^data:image\/jpeg;base64,/);
  assert.match(snapshotUrl(Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]).toString('base64'))!, /^data:image\/png;base64,/);
  assert.equal(snapshotUrl(Buffer.from('<svg onload=alert(1)>').toString('base64')), null);
  assert.equal(snapshotUrl('not base64 at all!'), null);
  assert.equal(snapshotUrl(42), null);
});

test('a broker URL on 0.0.0.0 means the host that served the page', () => {
  assert.equal(brokerUrlFor('ws://0.0.0.0:8083', 'hub.local'), 'ws://hub.local:8083');
  assert.equal(brokerUrlFor('wss://mqtt.example.com:8084/mqtt', 'hub.local'), 'wss://mqtt.example.com:8084/mqtt');
});
