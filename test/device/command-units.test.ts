import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { REDACTED, redactConfig, redactingLogger, redactSecrets } from '../../src/redact.ts';
import { createSignature, parsePrivateKey, parsePublicKey, SignatureError, verifySignature } from '../../src/signing.ts';
import { SerialQueue, TokenBucket } from '../../device/features/command-queue.ts';
import { resolveAgentConfig } from '../../device/config.ts';
import { UserError } from '../../src/errors.ts';

describe('secret redaction', () => {
  test('URL passwords and credential query parameters become ***, everything else stays', () => {
    const cases: [string, string][] = [
      ['rtsp://admin:pw@10.0.0.5:554/stream1', 'rtsp://admin:***@10.0.0.5:554/stream1'],
      ['mqtts://kitchen:s3cr3t@hub.local:8883', 'mqtts://kitchen:***@hub.local:8883'],
      ['mjpeg:http://u:p%40ss@cam/video?x=1', 'mjpeg:http://u:***@cam/video?x=1'],
      ['command:ffmpeg -i rtsp://a:b@cam/1 -f image2 -', 'command:ffmpeg -i rtsp://a:***@cam/1 -f image2 -'],
      ['http://cam/snapshot.cgi?user=admin&pwd=hunter2&res=1', 'http://cam/snapshot.cgi?user=admin&pwd=***&res=1'],
      ['http://cam/a?token=abc#frag', 'http://cam/a?token=***#frag'],
      ['fetch failed: http://x:y@h/ and rtsp://p:q@h2/', 'fetch failed: http://x:***@h/ and rtsp://p:***@h2/'],
      ['file:/data/frames/a.jpg', 'file:/data/frames/a.jpg'],
      ['mqtt://hub.local:1883', 'mqtt://hub.local:1883'],
      ['http://user@cam/x', 'http://user@cam/x'],
    ];
    for (const [input, expected] of cases) assert.equal(redactSecrets(input), expected, input);
  });

  test('config objects: secret keys and URLs in strings are redacted in a copy', () => {
    const cfg = { mqtt: { url: 'mqtt://u:pw@h', password: 'pw2', username: 'u' }, cameras: [{ source: 'rtsp://a:b@c/' }], n: 3, none: null };
    const out = redactConfig(cfg);
    assert.deepEqual(out, { mqtt: { url: `mqtt://u:${REDACTED}@h`, password: REDACTED, username: 'u' }, cameras: [{ source: `rtsp://a:${REDACTED}@c/` }], n: 3, none: null });
    assert.equal(cfg.mqtt.password, 'pw2', 'the original is untouched');
  });

  test('a redacting logger passes every level through redactSecrets', () => {
    const lines: string[] = [];
    const log = redactingLogger({ debug: (m) => lines.push(m), info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) });
    log.debug('a rtsp://u:1@h');
    log.info('b rtsp://u:2@h');
    log.warn('c rtsp://u:3@h');
    log.error('d rtsp://u:4@h');
    assert.deepEqual(lines, ['a', 'b', 'c', 'd'].map((p) => `${p} rtsp://u:***@h`));
  });
});

describe('model signatures (src/signing.ts)', () => {
  const pair = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return { priv: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, pub: publicKey.export({ type: 'spki', format: 'pem' }) as string };
  };
  const sha = 'ab'.repeat(32);

  test('a signature verifies with its key only, and only for its sha256', () => {
    const a = pair();
    const b = pair();
    const ka = parsePublicKey(a.pub, 'a.pub');
    const kb = parsePublicKey(b.pub, 'b.pub');
    const sig = JSON.stringify(createSignature(sha, parsePrivateKey(a.priv, 'a')));
    assert.equal(verifySignature(sig, sha, [kb, ka], 'm.sig'), ka.id);
    assert.throws(() => verifySignature(sig, sha, [kb], 'm.sig'), (e: Error) => e instanceof SignatureError && e.code === 'untrusted-key');
    assert.throws(() => verifySignature(sig, 'cd'.repeat(32), [ka], 'm.sig'), (e: Error) => e instanceof SignatureError && e.code === 'signature-mismatch');
    const forged = { ...(JSON.parse(sig) as Record<string, string>) };
    forged.signature = Buffer.alloc(64, 1).toString('base64');
    assert.throws(() => verifySignature(JSON.stringify(forged), sha, [ka], 'm.sig'), (e: Error) => e instanceof SignatureError && e.code === 'bad-signature');
    assert.throws(() => verifySignature('not json', sha, [ka], 'm.sig'), (e: Error) => e instanceof SignatureError && e.code === 'bad-signature');
  });

  test('trusted keys must be ed25519 public keys', () => {
    const a = pair();
    assert.throws(() => parsePublicKey(a.priv, 'k.pem'), (e: Error) => e instanceof UserError && /k\.pem: expected an ed25519 public key/.test(e.message));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => parsePublicKey(rsa, 'rsa.pub'), /rsa\.pub: an rsa key; expected ed25519/);
  });
});

describe('command rate limit and queue', () => {
  test('token bucket: burst at once, then the refill rate', () => {
    const b = new TokenBucket(3, 2, 0);
    assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
    assert.equal(b.take(400), false, '0.8 tokens after 400 ms at 2/s');
    assert.equal(b.take(500), true, '1 token after 500 ms');
    assert.deepEqual([b.take(60_000), b.take(60_000), b.take(60_000), b.take(60_000)], [true, true, true, false], 'never more than the burst');
  });

  test('serial queue: one job at a time, in order, bounded, stop discards the waiting ones', async () => {
    const q = new SerialQueue(2, () => {});
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const job = (n: number) => () => new Promise<void>((resolve) => {
      log.push(`start ${n}`);
      gates[n] = () => {
        log.push(`end ${n}`);
        resolve();
      };
    });
    assert.equal(q.push(job(0)), true);
    assert.equal(q.push(job(1)), true);
    assert.equal(q.push(job(2)), true);
    assert.equal(q.push(job(3)), false, 'two waiting behind the running one is the bound');
    assert.deepEqual(log, ['start 0']);
    gates[0]();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1']);
    const stopping = q.stop();
    assert.equal(q.push(job(4)), false, 'no new jobs once stopping');
    gates[1]();
    assert.equal(await stopping, 1, 'job 2 was discarded');
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1']);
  });
});

describe('config bounds', () => {
  test('camera fps outside [0.01, 120] is refused at start, naming the field', async () => {
    for (const fps of [1e-7, 0, 121]) {
      await assert.rejects(resolveAgentConfig({ source: 'file:/x.png', mqttUrl: 'mqtt://h', deviceId: 'd', fps }, {}), (e: Error) => e instanceof UserError && /cameras\.0\.fps/.test(e.message));
    }
    const ok = await resolveAgentConfig({ source: 'file:/x.png', mqttUrl: 'mqtt://h', deviceId: 'd', fps: 0.01, model: '/opt/m/default.onnx' }, {});
    assert.equal(ok.cameras[0].fps, 0.01);
    assert.equal(ok.models.dir, '/opt/m', 'models.dir defaults to the directory of the start-up model');
    assert.deepEqual(ok.commands.enabled, [], 'snapshot is off by default');
  });

  test('--trusted-key adds to models.trustedKeys; --models-dir sets models.dir', async () => {
    const cfg = await resolveAgentConfig({ source: 'file:/x.png', mqttUrl: 'mqtt://h', deviceId: 'd', trustedKey: ['/k1.pub', '/k2.pub'], modelsDir: '/srv/models' }, {});
    assert.deepEqual(cfg.models.trustedKeys, ['/k1.pub', '/k2.pub']);
    assert.equal(cfg.models.dir, '/srv/models');
  });
});
