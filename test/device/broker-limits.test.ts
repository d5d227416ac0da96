import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { startBroker, type BrokerRefusal, type EmbeddedBroker } from '../../device/broker.ts';
import { PacketSizeScanner, createOriginPolicy } from '../../device/broker-guard.ts';
import { connectPacket, publishHeader, tryConnect } from './broker-helpers.ts';

const MiB = 1024 * 1024;
const HUGE = 100 * MiB;

let broker: EmbeddedBroker;
before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  broker = await startBroker({ port: 0, wsPort: 0, wsOrigins: ['https://dash.example'] });
});
after(async () => {
  await broker.close();
});

function nextRefusal(): Promise<BrokerRefusal> {
  return once(broker.events, 'refused').then(([r]) => r as BrokerRefusal);
}

describe('packet size scanner (pure)', () => {
  test('follows packet boundaries fed one byte at a time and flags the first oversized header', () => {
    const s = new PacketSizeScanner(100);
    const stream = Buffer.concat([connectPacket('a'), publishHeader('t', 80), Buffer.alloc(80), Buffer.from([0xc0, 0x00]), publishHeader('t', 200)]);
    const verdicts = [...stream].map((b) => s.push(Buffer.from([b])));
    const firstBad = verdicts.findIndex((v) => !v.ok);
    // The oversized PUBLISH is refused at its second length byte, before its topic arrives.
    assert.equal(firstBad, connectPacket('a').length + 5 + 80 + 2 + 2);
    assert.deepEqual(verdicts[firstBad], { ok: false, reason: 'packet-too-large', declaredBytes: 1 + 2 + 3 + 200 });
  });

  test('a packet of exactly the limit passes, one byte more does not; a 5-byte length is malformed', () => {
    assert.deepEqual(new PacketSizeScanner(2 + 3 + 95).push(Buffer.concat([publishHeader('t', 95), Buffer.alloc(95)])), { ok: true });
    assert.deepEqual(new PacketSizeScanner(2 + 3 + 95).push(publishHeader('t', 96)), { ok: false, reason: 'packet-too-large', declaredBytes: 101 });
    assert.deepEqual(new PacketSizeScanner(1000).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])), { ok: false, reason: 'malformed-length' });
  });
});

describe('maximum packet size (default 1 MiB)', () => {
  test('a 100 MB PUBLISH over TCP is cut at its header: the broker reads < 1 MiB of it and does not buffer it', async () => {
    const memBefore = process.memoryUsage().arrayBuffers;
    const sock = netConnect(broker.port, '127.0.0.1');
    sock.on('error', () => {});
    await once(sock, 'connect');
    sock.write(connectPacket('hostile'));
    await once(sock, 'data'); // CONNACK: the client is in, as an authorised but hostile one would be
    const refusal = nextRefusal();
    sock.write(publishHeader('edgeloom/x', HUGE));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let written = 0;
    const outcome = await new Promise<'closed' | 'all-written'>((resolve) => {
      sock.once('close', () => resolve('closed'));
      const pump = () => {
        while (!sock.destroyed) {
          if (written >= HUGE) return resolve('all-written');
          written += chunk.length;
          if (!sock.write(chunk)) return void sock.once('drain', pump);
        }
      };
      pump();
    });
    assert.equal(outcome, 'closed', 'the broker accepted all 100 MB');
    const r = await refusal;
    assert.equal(r.reason, 'packet-too-large');
    assert.equal(r.transport, 'tcp');
    assert.ok(r.bytesRead! < MiB, `broker read ${r.bytesRead} bytes of the 100 MB packet`);
    assert.ok(written < HUGE, 'the client could not push the whole packet');
    const grown = process.memoryUsage().arrayBuffers - memBefore;
    assert.ok(grown < 16 * MiB, `buffers grew by ${(grown / MiB).toFixed(1)} MiB`);
  });

  test('mqtt.js: a 2 MiB publish gets the client disconnected, a 512 KiB one is delivered', async () => {
    const sub = await tryConnect(broker.url);
    const pub = await tryConnect(broker.url);
    assert.ok(sub.connected && pub.connected);
    await sub.client.subscribeAsync('size/#');
    const got = new Promise<[string, Buffer]>((resolve) => sub.client.once('message', (topic, payload) => resolve([topic, payload])));
    await pub.client.publishAsync('size/ok', Buffer.alloc(512 * 1024, 1));
    const [topic, payload] = await got;
    assert.equal(topic, 'size/ok');
    assert.equal(payload.length, 512 * 1024);

    const refusal = nextRefusal();
    pub.client.on('error', () => {}); // ECONNRESET: the broker cuts the connection mid-packet
    const closed = new Promise<void>((resolve) => pub.client.once('close', () => resolve())); // events.once would reject on that error
    pub.client.publish('size/big', Buffer.alloc(2 * MiB, 1));
    await closed;
    assert.equal((await refusal).reason, 'packet-too-large');
    await pub.client.endAsync(true);
    await sub.client.endAsync(true);
  });

  test('over WebSocket: a 100 MB PUBLISH sent as many small messages is cut at its header; one 2 MiB message is refused by ws', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${broker.wsPort}`, 'mqtt');
    ws.on('error', () => {});
    await once(ws, 'open');
    ws.send(connectPacket('hostile-ws'));
    await once(ws, 'message');
    const refusal = nextRefusal();
    ws.send(publishHeader('edgeloom/x', HUGE));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    const closed = once(ws, 'close');
    while (ws.readyState === WebSocket.OPEN && sent < HUGE) {
      await new Promise<void>((resolve) => ws.send(chunk, () => resolve()));
      sent += chunk.length;
    }
    assert.ok(sent < HUGE, 'the broker accepted all 100 MB');
    await closed;
    const r = await refusal;
    assert.equal(r.reason, 'packet-too-large');
    assert.equal(r.transport, 'ws');
    assert.ok(r.bytesRead! < MiB, `broker read ${r.bytesRead} bytes`);

    const ws2 = new WebSocket(`ws://127.0.0.1:${broker.wsPort}`, 'mqtt');
    ws2.on('error', () => {});
    await once(ws2, 'open');
    ws2.send(Buffer.alloc(2 * MiB));
    const [code] = (await once(ws2, 'close')) as [number];
    assert.equal(code, 1009); // Message Too Big
  });
});

describe('WebSocket origins', () => {
  async function upgrade(headers: Record<string, string>): Promise<number> {
    const ws = new WebSocket(`ws://127.0.0.1:${broker.wsPort}`, 'mqtt', { headers });
    ws.on('error', () => {});
    const status = await Promise.race([
      once(ws, 'open').then(() => 101),
      once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
    ]);
    ws.terminate();
    return status;
  }

  test('a page from a foreign origin is refused with 403 before any MQTT byte', async () => {
    const before = broker.refused.origin;
    assert.equal(await upgrade({ Origin: 'http://evil.example' }), 403);
    assert.equal(await upgrade({ Origin: 'https://dash.example.evil.example' }), 403);
    assert.equal(broker.refused.origin, before + 2);
  });

  test('an allowed origin (--ws-origin), a loopback page and a client without Origin connect with mqtt.js', async () => {
    for (const origin of ['https://dash.example', 'http://localhost:5173', undefined]) {
      const a = await tryConnect(`ws://127.0.0.1:${broker.wsPort}`, { wsOptions: origin ? { origin } : {} });
      assert.ok(a.connected, `origin ${origin}: ${a.connected ? '' : a.error.message}`);
      await a.client.endAsync(true);
    }
  });

  test('a page served from the IP address the client dialled is same-host; another IP is not', async () => {
    assert.equal(await upgrade({ Host: '10.1.2.3:8083', Origin: 'http://10.1.2.3:8080' }), 101);
    assert.equal(await upgrade({ Host: '10.1.2.3:8083', Origin: 'http://10.1.2.4:8080' }), 403);
    // A DNS name in Host/Origin proves nothing (DNS rebinding), so it needs --ws-origin.
    assert.equal(await upgrade({ Host: 'evil.example:8083', Origin: 'http://evil.example:8083' }), 403);
  });

  test('the policy: "*" allows any origin; malformed origins are refused', () => {
    assert.equal(createOriginPolicy(['*'])('https://anything.example', 'x:1'), true);
    assert.equal(createOriginPolicy([])('null', '127.0.0.1:1'), false);
    assert.equal(createOriginPolicy([])('http://[::1]:3000', 'x'), true);
  });
});
