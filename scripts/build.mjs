#!/usr/bin/env node
// `npm run build`: the CLI as plain JavaScript in dist/ (bin/edgeloom.js runs it when it is present
// and newer than its sources). Running the TypeScript through tsx costs the agent about 30 MiB of RSS
// (tsx's loader thread and transform cache; docs/benchmarks.md "Agent memory"), and a board install
// has no tsx. Plain JavaScript (not TypeScript) so that it runs on a fresh board install; esbuild is
// a dependency for this reason.
//
// One bundle with code splitting: every command's module stays a lazily imported chunk, so
// `edgeloom agent` loads what it did from the sources. training/ and dashboard/ are left out (kept as
// imports of their TypeScript sources, loaded through tsx on a workstation, see cli/training.ts):
// they read files next to their sources (worker threads, the page and its bundle) and need the
// workstation install anyway.
//   node scripts/build.mjs [--outdir DIR]   (DIR must sit directly under the repository, default dist)
import { build } from 'esbuild';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist' } } });
const outdir = path.resolve(ROOT, values.outdir);
if (path.dirname(outdir) !== ROOT) {
  // The bundle finds package.json and node_modules one level up, as the sources do.
  console.error(`build: --outdir must be a directory directly under ${ROOT}, got ${values.outdir}`);
  process.exit(1);
}

/** Imports of training/ and dashboard/ stay imports of the TypeScript sources, relative to the output directory. */
const FROM_SOURCES = ['training', 'dashboard'];
const keepTrainingExternal = {
  name: 'training-external',
  setup(b) {
    b.onResolve({ filter: /(^|\/)(training|dashboard)\// }, (args) => {
      if (!args.importer) return undefined;
      const target = path.resolve(args.resolveDir, args.path);
      if (!FROM_SOURCES.some((dir) => target.startsWith(path.join(ROOT, dir) + path.sep))) return undefined;
      return { path: path.relative(outdir, target).split(path.sep).join('/'), external: true };
    });
  },
};

// Build into a temporary sibling and rename, so a running CLI never sees half a dist/.
const tmp = `${outdir}.tmp-${process.pid}`;
await rm(tmp, { recursive: true, force: true });
await mkdir(tmp, { recursive: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { cli: 'cli/index.ts' },
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  metafile: true,
  logLevel: 'warning',
  plugins: [keepTrainingExternal],
});
// The relative training paths were computed for outdir; tmp is a sibling at the same depth.
const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('node_modules/')).sort();
await writeFile(path.join(tmp, 'build.json'), `${JSON.stringify({ builtAt: new Date().toISOString(), inputs }, null, 1)}\n`);
await rm(outdir, { recursive: true, force: true });
await rename(tmp, outdir);
console.error(`build: ${path.relative(ROOT, outdir)}/cli.js from ${inputs.length} source files`);
