import 'uplot/dist/uPlot.min.css';
import './style.css';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopics, type CommandName } from '../../src/mqtt/topics.ts';
import type { CommandResult } from '../../src/mqtt/payloads.ts';
import type { DashboardConfig } from '../server.ts';
import { h, setText } from './dom.ts';
import { FleetState, parseTopic, subscriptions } from './state.ts';
import { FleetView } from './views.ts';
import { brokerUrlFor } from './broker-url.ts';
import { TryView } from './try-view.ts';

/**
 * The page: connects to the broker over MQTT-over-WebSocket with mqtt.js's browser build, keeps
 * the fleet state from what it receives and renders it twice a second. Credentials are asked for
 * only when the broker refuses an anonymous connection, kept in memory for this tab, and never put
 * in a URL.
 */
const COMMAND_TIMEOUT_MS = 15_000;
/** MQTT 3.1.1 CONNACK codes 4 (bad user name or password) and 5 (not authorized); MQTT 5 uses 134/135. */
const AUTH_REFUSED = new Set([4, 5, 134, 135]);

const config = (await (await fetch('/config.json')).json()) as DashboardConfig;
const state = new FleetState(config.topicPrefix);
const pending = new Map<string, (r: CommandResult) => void>();
let client: MqttClient | null = null;
let credentials: { username: string; password: string } | null = null;

const connection = h('span', { class: 'connection', id: 'connection' }, 'connecting…');
const url = brokerUrlFor(config.mqttUrl, location.hostname);
const user = h('input', { name: 'username', autocomplete: 'username', required: true });
const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password' });
const login = h('form', { class: 'login', hidden: true },
  h('p', {}, `The broker ${url} asks for a user name and password.`),
  h('label', {}, 'User ', user), h('label', {}, 'Password ', pass), h('button', { type: 'submit' }, 'Connect'));
login.addEventListener('submit', (ev) => {
  ev.preventDefault();
  credentials = { username: user.value, password: pass.value };
  pass.value = '';
  login.hidden = true;
  connect();
});

function connect(): void {
  client?.end(true);
  setText(connection, `connecting to ${url}…`);
  const c = mqtt.connect(url, {
    protocolVersion: 4,
    clientId: `edgeloom-dashboard-${Math.random().toString(16).slice(2, 10)}`,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    ...(credentials ?? {}),
  });
  client = c;
  c.on('connect', () => {
    setText(connection, `connected to ${url}`);
    connection.className = 'connection ok';
    c.subscribe(subscriptions(config.topicPrefix), { qos: 1 });
  });
  c.on('close', () => {
    if (client === c && connection.className.includes('ok')) {
      setText(connection, `disconnected from ${url}, retrying…`);
      connection.className = 'connection down';
    }
  });
  c.on('error', (err: Error & { code?: number | string }) => {
    if (typeof err.code === 'number' && AUTH_REFUSED.has(err.code)) {
      c.end(true);
      setText(connection, credentials ? 'the broker refused these credentials' : 'the broker wants credentials');
      connection.className = 'connection down';
      login.hidden = false;
      user.focus();
    }
  });
  c.on('message', (topic, payload, packet) => {
    state.handle(topic, payload, Date.now(), packet.retain);
    const t = parseTopic(config.topicPrefix, topic);
    if (t?.kind === 'result') {
      const last = state.devices.get(t.device)?.replies.at(-1);
      const resolve = last?.requestId ? pending.get(last.requestId) : undefined;
      if (resolve && last) {
        pending.delete(last.requestId!);
        resolve(last);
      }
    }
  });
}

const send = (device: string, name: CommandName, body: Record<string, unknown>): Promise<CommandResult> => {
  const requestId = `dash-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pending.delete(requestId);
      resolve({ ok: false, command: name, requestId, error: `no reply within ${COMMAND_TIMEOUT_MS / 1000} s` });
    }, COMMAND_TIMEOUT_MS);
    pending.set(requestId, (r) => {
      clearTimeout(timer);
      resolve(r);
    });
    if (!client?.connected) {
      pending.delete(requestId);
      clearTimeout(timer);
      resolve({ ok: false, command: name, requestId, error: 'not connected to the broker' });
      return;
    }
    client.publish(deviceTopics(device, config.topicPrefix).command(name), JSON.stringify({ ...body, requestId }), { qos: 1 });
  });
};

const fleet = new FleetView(state, send);
const tryModel = new TryView();
fleet.el.append(h('h2', { class: 'section' }, 'Try the model'), tryModel.el);
document.body.replaceChildren(
  h('header', { class: 'top' }, h('h1', {}, 'edgeloom'), connection),
  login,
  fleet.el,
);
void tryModel.start();
connect();
fleet.render(Date.now());
setInterval(() => state.tick(Date.now()), 1000);
setInterval(() => fleet.render(Date.now()), 500);
