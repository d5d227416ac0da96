// Kept apart from broker.ts so that the CLI can show these in --help without loading aedes.
/**
 * Every option of the embedded broker and its default, in one place (README and docs/security.md
 * describe these). The defaults are the safe ones: loopback only, no packets over 1 MiB, browser
 * pages from other hosts refused, anonymous clients refused on any non-loopback interface.
 */
export const BROKER_DEFAULTS = {
  /** Interface to listen on; `0.0.0.0` or a LAN address exposes the broker to the network. */
  host: '127.0.0.1',
  /** MQTT over TCP; with TLS (`tlsCert`/`tlsKey`) the default is `tlsPort` instead. */
  port: 1883,
  tlsPort: 8883,
  /** MQTT over WebSocket: off when embedding (`null`); `edgeloom broker` and the demo use the command ports. */
  wsPort: null as number | null,
  commandWsPort: 8083,
  commandTlsWsPort: 8084,
  /** Password file (`user:$scrypt$...` lines); null = no authentication. */
  users: null as string | null,
  /** Without `users`, a broker on a non-loopback host refuses to start unless this is true (mosquitto 2 does the same). */
  allowAnonymous: false,
  /** PEM certificate chain and private key; both or neither. TLS applies to TCP (mqtts) and WebSocket (wss). */
  tlsCert: null as string | null,
  tlsKey: null as string | null,
  /** Largest MQTT packet (fixed header included) a client may send; the connection is cut at the header. */
  maxPacketBytes: 1024 * 1024,
  /** Extra browser origins allowed to open a WebSocket (`https://dash.example:8443`, or `*` for any). */
  wsOrigins: [] as readonly string[],
  /** Open connections per listener (TCP and WebSocket each), counted before CONNECT. */
  maxConnections: 1000,
  /** A client must send CONNECT (and finish the TLS handshake, or the WebSocket upgrade) within this. */
  connectTimeoutMs: 10_000,
  /** A subscriber that stops reading is dropped after this (aedes' drainTimeout), so it cannot stall the others. */
  drainTimeoutMs: 30_000,
  /** Password checks (scrypt) running at once, and CONNECTs allowed to wait for one. */
  authConcurrency: 2,
  authQueue: 64,
};
