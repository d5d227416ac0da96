import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export interface Peer {
  url: string;
  packets: Packet[];
  sockets: Set<Socket>;
  /** Idempotent. */
  close(): Promise<void>;
}

/**
 * An MQTT peer on 127.0.0.1:0 that parses what it is sent (in the protocol version the CONNECT
 * asked for) and replies with `answer`'s packets; `socket` lets a script cut the connection.
 */
export async function scriptedPeer(answer: (p: Packet, version: number, socket: Socket) => Packet[]): Promise<Peer> {
  const packets: Packet[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let version = 4;
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') {
        version = p.protocolVersion ?? 4;
        (parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = version;
      }
      packets.push(p);
      for (const reply of answer(p, version, s)) if (!s.destroyed) s.write(mqttPacket.generate(reply, { protocolVersion: version }));
    });
    s.on('data', (d) => parser.parse(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    packets,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const connack = (returnCode = 0): Packet => ({ cmd: 'connack', returnCode, reasonCode: returnCode, sessionPresent: false } as Packet);
