import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { lstat, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCollect } from '../../device/collect/run.ts';
import { classFolder, labelClasses, startLabelServer, LABEL_SERVER_LIMITS, type LabelServer } from '../../device/collect/label-server.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { runEdgeloom } from '../helpers/run-cli.ts';
import { DEFAULT_MODEL, makeFrames, photosIn, readJson } from './fixture.ts';

let ws: Awaited<ReturnType<typeof makeFrames>>;
let out: string;
let server: LabelServer;
let classes: string[];

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A raw HTTP request (no fetch: it would refuse to send some of the hostile headers). */
function http(method: string, path: string, opts: { headers?: Record<string, string | number>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers: { host: `127.0.0.1:${server.port}`, ...opts.headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', 'x-edgeloom-token': server.token, origin: `http://127.0.0.1:${server.port}`, ...extra });
const post = (path: string, body: unknown, headers = json()) => http('POST', path, { headers, body: JSON.stringify(body) });

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeFrames(12);
  out = join(ws.root, 'collected');
  await runCollect({ source: `dir:${ws.frames}`, out, model: DEFAULT_MODEL });
  classes = await labelClasses({ model: DEFAULT_MODEL });
  server = await startLabelServer({ dir: out, classes, port: 0 });
});
after(async () => {
  await server.close();
  await rm(ws.root, { recursive: true, force: true });
});

describe('edgeloom label server', () => {
  test('the page embeds the token and the model\'s classes; items carry the guesses; photos are served', async () => {
    assert.deepEqual(classes, [...FASHION_MNIST_CLASSES]);
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await http('GET', '/');
    assert.equal(page.status, 200);
    assert.ok(page.body.includes(server.token));
    assert.ok(page.body.includes('"T-shirt/top"'));
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
    const items = JSON.parse((await http('GET', '/api/items')).body).items;
    const photos = await photosIn(join(out, 'unlabelled'));
    assert.deepEqual(items.map((i: any) => i.name), photos);
    const side = await readJson(join(out, 'unlabelled', `${photos[0]}.json`));
    assert.equal(items[0].label, side.label);
    assert.equal(items[0].top.length, 3);
    const img = await http('GET', `/photo/${photos[0]}`);
    assert.equal(img.status, 200);
    assert.equal(img.headers['content-type'], 'image/jpeg');
  });

  test('a POST with the token moves the photo into DIR/<class>/ (sidecar hidden next to it); undo moves it back', async () => {
    const [name] = await photosIn(join(out, 'unlabelled'));
    const moved = await post('/api/label', { name, class: 'T-shirt/top' });
    assert.equal(moved.status, 200, moved.body);
    const folder = join(out, classFolder('T-shirt/top'));
    assert.equal(classFolder('T-shirt/top'), 't-shirt-top');
    assert.deepEqual(await readdir(folder).then((l) => l.sort()), [`.${name}.json`, name].sort());
    assert.equal((await readJson(join(folder, `.${name}.json`))).labelled.class, 'T-shirt/top');
    assert.ok(!(await photosIn(join(out, 'unlabelled'))).includes(name));
    const undone = await post('/api/undo', {});
    assert.equal(undone.status, 200, undone.body);
    assert.equal(JSON.parse(undone.body).restored, name);
    assert.ok((await photosIn(join(out, 'unlabelled'))).includes(name));
    assert.equal((await readJson(join(out, 'unlabelled', `${name}.json`))).labelled, undefined);
    assert.deepEqual(await readdir(folder), []);
    assert.equal((await post('/api/undo', {})).status, 409);
  });

  test('hostile requests are refused: traversal, symlinks, missing or wrong token, foreign Origin or Host, huge or non-JSON bodies', async () => {
    const [name] = await photosIn(join(out, 'unlabelled'));
    const secret = join(ws.root, 'secret.jpg');
    await writeFile(secret, 'not for the browser');
    await symlink(secret, join(out, 'unlabelled', 'link.jpg'));
    for (const path of ['/photo/..%2f..%2fsecret.jpg', '/photo/../../secret.jpg', '/photo/%2e%2e%2fsecret.jpg', '/photo/link.jpg', '/photo/.hidden.jpg', `/photo/${name}.json`, '/photo/%ff.jpg']) {
      const r = await http('GET', path);
      assert.equal(r.status, 404, path);
      assert.ok(!r.body.includes('not for the browser'));
    }
    const before = await photosIn(join(out, 'unlabelled'));
    const refused: [string, Promise<Reply>, number][] = [
      ['no token', post('/api/label', { name, class: 'Trouser' }, { 'content-type': 'application/json' } as any), 403],
      ['wrong token', post('/api/label', { name, class: 'Trouser' }, json({ 'x-edgeloom-token': 'x'.repeat(server.token.length) })), 403],
      ['foreign origin', post('/api/label', { name, class: 'Trouser' }, json({ origin: 'http://evil.example' })), 403],
      ['cross-site fetch', post('/api/label', { name, class: 'Trouser' }, json({ 'sec-fetch-site': 'cross-site' })), 403],
      ['rebound host', http('GET', '/', { headers: { host: 'evil.example:80' } }), 421],
      ['form post', http('POST', '/api/label', { headers: { ...json(), 'content-type': 'text/plain' }, body: JSON.stringify({ name, class: 'Trouser' }) }), 415],
      ['huge body', http('POST', '/api/label', { headers: json(), body: Buffer.alloc(LABEL_SERVER_LIMITS.bodyBytes * 64, 32) }), 413],
      ['traversal name', post('/api/label', { name: `../unlabelled/${name}`, class: 'Trouser' }), 400],
      ['symlink name', post('/api/label', { name: 'link.jpg', class: 'Trouser' }), 404],
      ['unknown class', post('/api/label', { name, class: '../../etc' }), 400],
      ['not JSON', http('POST', '/api/label', { headers: json(), body: '{' }), 400],
      ['GET on a POST route', http('GET', '/api/label'), 404],
      ['PUT', http('PUT', '/api/label', { headers: json(), body: '{}' }), 405],
    ];
    for (const [what, reply, status] of refused) assert.equal((await reply).status, status, what);
    assert.deepEqual(await photosIn(join(out, 'unlabelled')), before, 'nothing moved');
    assert.equal((await lstat(secret)).isFile(), true);
    await rm(join(out, 'unlabelled', 'link.jpg'));
  });

  test('labelled photos load with `data info --data folder:DIR` (unlabelled/ is skipped)', async () => {
    const photos = await photosIn(join(out, 'unlabelled'));
    for (const [i, name] of photos.slice(0, 10).entries()) {
      const r = await post('/api/label', { name, class: i % 2 ? 'Trouser' : 'T-shirt/top' });
      assert.equal(r.status, 200, r.body);
    }
    assert.equal((await photosIn(join(out, 'unlabelled'))).length, photos.length - 10);
    const info = await runEdgeloom(['data', 'info', '--data', `folder:${out}`, '--json']);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout);
    // Folders named after Fashion-MNIST classes keep its labels: T-shirt/top = 0, Trouser = 1.
    assert.equal(parsed.train + parsed.test, 10, 'the 10 labelled photos, none of the unlabelled ones');
    assert.deepEqual([0, 1, 2].map((c) => parsed.perClass.train[c] + parsed.perClass.test[c]), [5, 5, 0]);
    assert.equal((await photosIn(join(out, 'Trouser'))).length, 5);
  });
});
