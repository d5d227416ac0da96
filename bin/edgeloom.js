#!/usr/bin/env node
// Runs dist/cli.js (`npm run build`, which the board install runs) when it is there and no source
// it was built from changed since; otherwise the TypeScript sources through tsx's loader, so a fresh
// clone needs no build step. tsx costs the agent about 30 MiB of RSS (docs/benchmarks.md "Agent memory").
import { readFileSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);

/** dist/cli.js if its build record lists only sources older than the build, else null. */
function freshBuild() {
  let record;
  try {
    record = JSON.parse(readFileSync(new URL('dist/build.json', root), 'utf8'));
  } catch {
    return null;
  }
  const builtAt = Date.parse(record.builtAt);
  for (const file of record.inputs ?? []) {
    let mtime;
    try {
      mtime = statSync(new URL(file, root)).mtimeMs;
    } catch {
      return null;
    }
    if (!(mtime <= builtAt)) return { stale: file };
  }
  return { cli: new URL('dist/cli.js', root) };
}

const build = freshBuild();
if (build?.cli) {
  await import(build.cli.href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write(build?.stale
      ? `edgeloom: ${build.stale} changed after the last build and tsx is not installed: run \`npm run build\` (or \`npm run install-board\` on a board)\n`
      : 'edgeloom: no build in dist/ and tsx is not installed: run `npm run install-board` (board) or `npm ci` (workstation)\n');
    process.exit(1);
  }
  register();
  await import('../cli/index.ts');
}
