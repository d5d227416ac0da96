import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { runCollect } from '../../device/collect/run.ts';
import { classFolder, startLabelServer, type LabelServer } from '../../device/collect/label-server.ts';
import { makeFrames, photosIn, readJson, DEFAULT_MODEL } from './fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const CLASSES = ['shirt', 'jeans', 'T-shirt/top'];
let ws: Awaited<ReturnType<typeof makeFrames>>;
let out: string;
let server: LabelServer;
let browser: Browser;

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  ws = await makeFrames(4);
  out = join(ws.root, 'collected');
  await runCollect({ source: `dir:${ws.frames}`, out, model: DEFAULT_MODEL });
  server = await startLabelServer({ dir: out, classes: CLASSES, port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
  await rm(ws.root, { recursive: true, force: true });
});

/** Resolves once `dir` holds `n` photos (the page's POST is asynchronous). */
async function photosSoon(dir: string, n: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const list = existsSync(dir) ? await photosIn(dir) : [];
    if (list.length === n) return list;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${dir}: expected ${n} photos`);
}

test('in Chromium: a digit moves the shown photo into that class, s skips, u undoes, Enter accepts the selection', { skip: !existsSync(CHROMIUM) && 'no /usr/bin/chromium' }, async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]');
  const photos = await photosIn(join(out, 'unlabelled'));
  assert.equal(await page.textContent('#name'), photos[0]);
  assert.equal(await page.evaluate(() => (document.getElementById('photo') as HTMLImageElement).naturalWidth > 0 || new Promise((r) => document.getElementById('photo')!.addEventListener('load',
    () => r(true)))), true);

  await page.keyboard.press('2');
  assert.deepEqual(await photosSoon(join(out, 'jeans'), 1), [photos[0]]);
  await page.waitForFunction((n) => document.getElementById('name')!.textContent === n, photos[1]);

  await page.keyboard.press('s');
  assert.equal(await page.textContent('#name'), photos[2]);
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.textContent('#name'), photos[1]);

  await page.keyboard.press('u');
  await photosSoon(join(out, 'jeans'), 0);
  await page.waitForFunction((n) => document.getElementById('name')!.textContent === n, photos[0]);

  // Enter takes the selected class: down twice selects the third class from the first.
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  const folder = join(out, classFolder('T-shirt/top'));
  assert.deepEqual(await photosSoon(folder, 1), [photos[0]]);
  assert.equal((await readJson(join(folder, `.${photos[0]}.json`))).labelled.class, 'T-shirt/top');
  assert.equal((await readdir(join(out, 'unlabelled'))).filter((n) => n.endsWith('.jpg')).length, 3);
  assert.deepEqual(errors, []);
  await page.close();
});

test('in Chromium: the model\'s guess is preselected when it is one of the classes', { skip: !existsSync(CHROMIUM) && 'no /usr/bin/chromium' }, async () => {
  const guessed = await startLabelServer({ dir: out, classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'], port: 0 });
  try {
    const page = await browser.newPage();
    await page.goto(guessed.url);
    await page.waitForSelector('body[data-ready="true"]');
    const name = await page.textContent('#name');
    const side = await readJson(join(out, 'unlabelled', `${name}.json`));
    assert.equal((await page.textContent('#classes button.selected'))?.replace(/^\d/, ''), side.label);
    await page.keyboard.press('Enter');
    assert.deepEqual(await photosSoon(join(out, classFolder(side.label)), 1), [name]);
    await page.close();
  } finally {
    await guessed.close();
  }
});
