// Preloaded with `node --import` by test/board/*.test.ts: appends the URL of every module the process
// loads to $EDGELOOM_MODULE_LOG, ES modules through a loader hook (in its own thread) and CommonJS
// files from require's cache at exit (Node 20 does not route require() inside CommonJS through hooks).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const log = process.env.EDGELOOM_MODULE_LOG;
if (!log) throw new Error('record-modules.mjs: set EDGELOOM_MODULE_LOG to a file');
register('./record-modules-hooks.mjs', import.meta.url, { data: { log } });
process.on('exit', () => {
  const files = Object.keys(createRequire(import.meta.url).cache);
  appendFileSync(log, files.map((f) => `${pathToFileURL(f).href}\n`).join(''));
});
