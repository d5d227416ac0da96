import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startDashboard } from '../../dashboard/server.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';

/** The dashboard's HTTP server: what it serves, what it refuses, and the CLI around it. */
function raw(port: number, method: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves the page, its bundle and config; refuses other methods, other paths and traversal', async () => {
  const dash = await startDashboard({ mqttUrl: 'ws://0.0.0.0:8083', port: 0, topicPrefix: 'plant' });
  try {
    assert.equal(dash.url, `http://127.0.0.1:${dash.port}/`);
    const page = await raw(dash.port, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<script type="module" src="\/app.js">/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'; script-src 'self' 'wasm-unsafe-eval';/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(JSON.parse((await raw(dash.port, 'GET', '/config.json')).body), { mqttUrl: 'ws://0.0.0.0:8083', topicPrefix: 'plant' });
    const app = await raw(dash.port, 'GET', '/app.js');
    assert.equal(app.status, 200);
    assert.match(String(app.headers['content-type']), /^text\/javascript/);
    assert.ok(app.body.length > 50_000, 'mqtt.js and uPlot are bundled');
    assert.equal((await raw(dash.port, 'GET', '/app.css')).status, 200);
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/dashboard/server.ts', '/node_modules/mqtt/package.json', '/app.js/..', '/config.json%00']) {
      assert.equal((await raw(dash.port, 'GET', path)).status, 404, path);
    }
    assert.equal((await raw(dash.port, 'POST', '/')).status, 405);
    assert.equal((await raw(dash.port, 'HEAD', '/app.js')).status, 200);
  } finally {
    await dash.close();
  }
});

test('a broker URL the browser cannot use, or one with credentials in it, is refused in one line', async () => {
  await assert.rejects(startDashboard({ mqttUrl: 'mqtt://localhost:1883', port: 0 }), /--mqtt-url: browsers reach MQTT brokers over WebSocket only/);
  await assert.rejects(startDashboard({ mqttUrl: 'ws://user:pw@localhost:8083', port: 0 }), /--mqtt-url: no username or password in the URL/);
  const cli = await runEdgeloom(['dashboard', '--mqtt-url', 'not a url', '--port', '0']);
  assert.equal(cli.code, 1);
  assert.equal(cli.stderr.trim().split('\n').length, 1);
  assert.match(cli.stderr, /^edgeloom: --mqtt-url: "not a url" is not a URL/);
});

test('edgeloom dashboard prints its URL and serves until SIGTERM', async () => {
  let url = '';
  let status: Promise<number> | undefined;
  const run = await runEdgeloom(['dashboard', '--mqtt-url', 'ws://127.0.0.1:8083', '--port', '0'], (text, child) => {
    const m = /edgeloom dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
    if (m && !url) {
      url = m[1];
      status = fetch(url).then((r) => r.status).finally(() => child.kill('SIGTERM'));
    }
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(url);
  assert.equal(await status, 200);
});
