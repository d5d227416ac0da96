import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export type Attempt = { connected: true; client: MqttClient } | { connected: false; error: Error & { code?: number | string } };

/** One connection attempt, no reconnects: resolves on CONNACK success, a refusal, or the socket closing. */
export function tryConnect(url: string, opts: IClientOptions = {}): Promise<Attempt> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  return new Promise((resolve) => {
    const fail = (error: Error) => {
      client.off('connect', succeed);
      client.off('close', closed);
      client.end(true);
      resolve({ connected: false, error });
    };
    const closed = () => fail(new Error('connection closed before CONNACK'));
    const succeed = () => {
      client.off('error', fail);
      client.off('close', closed);
      resolve({ connected: true, client });
    };
    client.once('connect', succeed);
    client.once('error', fail);
    client.once('close', closed);
  });
}

/** A self-signed certificate for localhost/127.0.0.1 made by Debian's openssl (installed by .ci/run). */
export async function makeSelfSignedCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'broker.crt');
  const key = join(dir, 'broker.key');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  return { cert, key };
}

/** MQTT 3.1.1 CONNECT for client id `id`, clean session, no credentials (§3.1). */
export function connectPacket(id: string): Buffer {
  const body = Buffer.concat([
    Buffer.from([0x00, 0x04]), Buffer.from('MQTT'), Buffer.from([0x04, 0x02, 0x00, 0x3c]),
    Buffer.from([0x00, id.length]), Buffer.from(id),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** The fixed header and topic of a QoS 0 PUBLISH whose payload is `payloadBytes` long (the payload itself is not included). */
export function publishHeader(topic: string, payloadBytes: number): Buffer {
  const variable = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), Buffer.from(topic)]);
  let remaining = variable.length + payloadBytes;
  const len: number[] = [];
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) byte |= 0x80;
    len.push(byte);
  } while (remaining > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), variable]);
}
