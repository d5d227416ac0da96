import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runEdgeloom } from '../helpers/run-cli.ts';
import { writePhotoFolder } from './fixture.ts';

/** Ctrl-C during `cv` and `search`: exit 130 with how far it got, and the same command continues from there. */

const photos = await writePhotoFolder(12, 5);
test.after(() => rm(dirname(photos.dir), { recursive: true, force: true }));

const common = ['--arch', 'mlp', '--data', photos.spec, '--epochs', '5', '--batch-size', '4', '--optimizer', 'adam', '--lr', '0.003', '--backend', 'cpu', '--no-progress'];

for (const [command, extra, done, unit] of [
  ['cv', ['--folds', '3', '--stratified'], /fold 1: validation/, 'fold'],
  ['search', ['--grid', 'activation=relu,tanh;lr=1e-3,3e-3', '--val-split', '0.3'], /trial 2\/4:/, 'trial'],
] as const) {
  test(`${command}: Ctrl-C after the first ${unit} exits 130 naming what finished; running it again continues`, async () => {
    const out = join(dirname(photos.dir), `${command}-int`);
    const args = [command, ...common, ...extra, '--out', out];
    let sent = false;
    const first = await runEdgeloom(args, (text, child) => {
      if (!sent && done.test(text)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    assert.ok(sent, first.stderr);
    assert.equal(first.code, 130, first.stderr);
    // The signal lands during the second unit (each is 5 epochs of 6+ batches); the one that was running is dropped.
    const finished = Number(new RegExp(`edgeloom: interrupted after (\\d+) finished ${unit}\\(s\\); run the same command again to continue`).exec(first.stderr)?.[1]);
    assert.ok(finished >= 1 && finished < (unit === 'fold' ? 3 : 4), first.stderr);
    const again = await runEdgeloom(args);
    assert.equal(again.code, 0, again.stderr);
    if (unit === 'trial') assert.equal(again.stderr.match(/already done/g)?.length, finished, again.stderr);
    else for (let f = 1; f <= 3; f++) assert.equal(new RegExp(`fold ${f}: validation`).test(again.stderr), f > finished, `fold ${f}: ${again.stderr}`);
  });
}
