import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs, MQTT_CONNECTION_DEFAULTS, reconnectDelayMs } from '../../device/mqtt/defaults.ts';
import { resolveAgentConfig } from '../../device/config.ts';

test('reconnect backoff doubles from the minimum, is capped, and jitter only shortens a wait down to (1 - jitter)', () => {
  const o = { reconnectMinMs: 1000, reconnectMaxMs: 30_000, reconnectJitter: 0.5 };
  const longest = Array.from({ length: 8 }, (_, a) => reconnectDelayMs(a, o, () => 0));
  assert.deepEqual(longest, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  const shortest = Array.from({ length: 8 }, (_, a) => reconnectDelayMs(a, o, () => 1));
  assert.deepEqual(shortest, [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
  assert.equal(reconnectDelayMs(1e6, o, () => 0), 30_000, 'no overflow after months of retries');
  assert.equal(reconnectDelayMs(3, { ...o, reconnectJitter: 0 }, Math.random), 8000);
});

test('store-and-forward retries back off from publishRetryMinMs to publishRetryMaxMs, not every 200 ms forever', () => {
  const { publishRetryMinMs: min, publishRetryMaxMs: max } = MQTT_CONNECTION_DEFAULTS;
  assert.deepEqual(Array.from({ length: 10 }, (_, a) => backoffDelayMs(a, min, max, 0)), [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
  assert.equal(backoffDelayMs(0, min, max, 0.5, () => 1), 100, 'jitter shortens a wait down to (1 - jitter)');
});

test('the config takes its MQTT connection defaults from the one defaults object', async () => {
  const cfg = await resolveAgentConfig({ mqttUrl: 'mqtt://127.0.0.1:1', deviceId: 'd', source: 'dir:/nonexistent' }, {});
  assert.equal(cfg.mqtt.keepalive, MQTT_CONNECTION_DEFAULTS.keepaliveS);
  assert.equal(cfg.mqtt.reconnectMinMs, MQTT_CONNECTION_DEFAULTS.reconnectMinMs);
  assert.equal(cfg.mqtt.reconnectMaxMs, MQTT_CONNECTION_DEFAULTS.reconnectMaxMs);
  assert.equal(cfg.mqtt.reconnectJitter, MQTT_CONNECTION_DEFAULTS.reconnectJitter);
  assert.equal(cfg.mqtt.connectTimeoutMs, MQTT_CONNECTION_DEFAULTS.connectTimeoutMs);
});
