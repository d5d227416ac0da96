import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FASHION_MNIST_BASE_URLS, FASHION_MNIST_FILES, downloadFashionMnist, md5File, verifyMd5 } from '../../training/data/download.ts';
import { tempDir } from './helpers.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

test('the official file list and MD5s are those of the Fashion-MNIST README', () => {
  assert.deepEqual(FASHION_MNIST_FILES.map((f) => `${f.name} ${f.md5}`), [
    'train-images-idx3-ubyte.gz 8d4fb7e6c68d591d4c3dfef9ec88bf0d',
    'train-labels-idx1-ubyte.gz 25c81989df183df01b3e8a0aad5dffbe',
    't10k-images-idx3-ubyte.gz bef4ecab320f06d8554ea6380940ec79',
    't10k-labels-idx1-ubyte.gz bb300cfdad3c16e7a12a480ee83cd310',
  ]);
  assert.equal(FASHION_MNIST_BASE_URLS[0], 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/');
});

test('verifyMd5 accepts the right sum and names the file otherwise', async () => {
  const dir = await tempDir('dl');
  const p = join(dir, 'a.gz');
  await writeFile(p, 'hello');
  assert.equal(await md5File(p), '5d41402abc4b2a76b9719d911017c592');
  await verifyMd5(p, '5D41402ABC4B2A76B9719D911017C592');
  await assert.rejects(verifyMd5(p, '00000000000000000000000000000000'), /a\.gz: MD5 5d41402abc4b2a76b9719d911017c592, expected 0{32}$/);
});

test('downloads from a local server, falls back to the next mirror on a bad MD5, keeps good files', async () => {
  const good = { 'one.gz': Buffer.from('first file'), 'two.gz': Buffer.alloc(300_000, 7) };
  const files = Object.entries(good).map(([name, data]) => ({ name, md5: md5(data) }));
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const [, mirror, name] = (req.url ?? '').split('/');
    const data = good[name as keyof typeof good];
    if (!data || mirror === 'missing') return void res.writeHead(404).end();
    res.writeHead(200).end(mirror === 'corrupt' ? Buffer.concat([data, Buffer.from('!')]) : data);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const dir = await tempDir('dl');
    const r1 = await downloadFashionMnist(dir, { files, baseUrls: [`${base}/corrupt/`, `${base}/missing`, `${base}/good/`] });
    assert.deepEqual(r1.files.map((f) => [f.name, f.status, f.url]), [['one.gz', 'downloaded', `${base}/good/one.gz`], ['two.gz', 'downloaded', `${base}/good/two.gz`]]);
    assert.deepEqual(await readFile(join(dir, 'two.gz')), good['two.gz']);
    assert.deepEqual((await readdir(dir)).sort(), ['one.gz', 'two.gz']); // no temp files left

    requests.length = 0;
    await writeFile(join(dir, 'one.gz'), 'tampered');
    const r2 = await downloadFashionMnist(dir, { files, baseUrls: [`${base}/good/`] });
    assert.deepEqual(r2.files.map((f) => f.status), ['downloaded', 'present']);
    assert.deepEqual(requests, ['/good/one.gz']);

    const empty = await tempDir('dl');
    await assert.rejects(downloadFashionMnist(empty, { files, baseUrls: [`${base}/corrupt/`, `${base}/missing/`] }), (err: Error) => {
      assert.equal(err.name, 'UserError');
      assert.match(err.message, /^one\.gz: download failed \(.*\/corrupt\/one\.gz: MD5 [0-9a-f]{32}, expected [0-9a-f]{32}; .*\/missing\/one\.gz: HTTP 404\)$/);
      return true;
    });
    assert.deepEqual(await readdir(empty), []);
  } finally {
    server.close();
  }
});

test('an injected fetch replaces the network entirely', async () => {
  const dir = await tempDir('dl');
  const data = Buffer.from('payload');
  const seen: string[] = [];
  const fetchImpl = async (url: string) => {
    seen.push(url);
    return new Response(data);
  };
  const r = await downloadFashionMnist(dir, { fetchImpl, files: [{ name: 'x.gz', md5: md5(data) }] });
  assert.equal(r.files[0].status, 'downloaded');
  assert.deepEqual(seen, [`${FASHION_MNIST_BASE_URLS[0]}x.gz`]);
});
