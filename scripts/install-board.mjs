#!/usr/bin/env node
// `npm run install-board`: what a Raspberry Pi or Jetson needs to run the agent, nothing more.
// Plain JavaScript with no dependencies, so it runs on a fresh clone before anything is installed.
//   npm run install-board [-- --cpu arm64 --os linux] [--offline | --prefer-offline] [--no-build]
// 1. `npm ci --omit=dev`: the runtime packages only. Training (TensorFlow.js, the data sets), tsx,
//    TypeScript, test tools are devDependencies, which a workstation's `npm ci` installs.
// 2. Prunes files for other platforms and browsers: onnxruntime-node's native builds for every other
//    platform (265 MB on linux/arm64), onnxruntime-web's browser bundles (the agent's `--ep wasm`
//    needs its Node build and one .wasm), protobufjs's code-generation CLI.
// 3. `npm run build`: dist/, plain JavaScript, which bin/edgeloom.js runs (no tsx on a board).
// --cpu/--os install for another board (npm picks sharp's and esbuild's binaries for it) and prune
// for it; the build is then skipped (esbuild cannot run here), run `npm run build` on the board.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MAJOR = 20;

/** Files other platforms need and this board does not, by package (paths under node_modules). */
function prunePlan(platform, arch) {
  const plan = [];
  const ortBin = 'onnxruntime-node/bin/napi-v6';
  for (const os of listDir(path.join(ROOT, 'node_modules', ortBin))) {
    if (os !== platform) plan.push(`${ortBin}/${os}`);
    else for (const cpu of listDir(path.join(ROOT, 'node_modules', ortBin, os))) if (cpu !== arch) plan.push(`${ortBin}/${os}/${cpu}`);
  }
  // onnxruntime-web's "node" export: ort.node.min.{mjs,js}, which loads the threaded SIMD build.
  const webKeep = new Set(['ort.node.min.mjs', 'ort.node.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']);
  for (const f of listDir(path.join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'))) {
    if (!webKeep.has(f)) plan.push(`onnxruntime-web/dist/${f}`);
  }
  plan.push('onnxruntime-web/lib', 'onnxruntime-web/docs');
  // pbjs/pbts code generators (20 MB with their own dependencies); the runtime is protobufjs/src.
  for (const dir of ['protobufjs', 'onnxruntime-web/node_modules/protobufjs', 'onnx-proto/node_modules/protobufjs']) {
    plan.push(`${dir}/cli`, `${dir}/bin`);
  }
  plan.push('.bin/pbjs', '.bin/pbts');
  return plan.filter((p) => lstatSync(path.join(ROOT, 'node_modules', p), { throwIfNoEntry: false }));
}

function listDir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Bytes of regular files under `p` (apparent size, as `du -sb`). */
function treeBytes(p) {
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of readdirSync(p)) total += treeBytes(path.join(p, name));
  return total;
}

function mib(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function checkNode() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= NODE_MAJOR) return;
  console.error(`install-board: Node.js >= ${NODE_MAJOR} is required, this is ${process.version}.`);
  console.error('  Debian 12 (bookworm) and Raspberry Pi OS bookworm ship Node 18: use scripts/install-pi.sh without');
  console.error('  USE_DISTRO_NODE=1 (it installs Node 20: NodeSource on arm64, nodejs.org on 32-bit ARM),');
  console.error('  or a Debian 13 (trixie) based OS, whose nodejs is 20.');
  process.exit(1);
}

/** npm as the one that started us (`npm run`), else the npm on PATH. */
function npm(args) {
  const execPath = process.env.npm_execpath;
  const [cmd, argv] = execPath && /\.c?js$/.test(execPath) ? [process.execPath, [execPath, ...args]] : ['npm', args];
  console.error(`install-board: npm ${args.join(' ')}`);
  // ONNXRUNTIME_NODE_INSTALL=skip: the CPU build ships in the package (see .npmrc, which already
  // turns install scripts off; this covers a checkout copied without it).
  const r = spawnSync(cmd, argv, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.status !== 0) {
    console.error(`install-board: npm ${args[0]} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function main() {
  const { values } = parseArgs({
    options: {
      cpu: { type: 'string' },
      os: { type: 'string' },
      offline: { type: 'boolean', default: false },
      'prefer-offline': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
    },
  });
  checkNode();
  const platform = values.os ?? process.platform;
  const arch = values.cpu ?? process.arch;
  const foreign = platform !== process.platform || arch !== process.arch;
  npm([
    'ci', '--omit=dev', '--no-audit', '--no-fund',
    ...(values.cpu ? [`--cpu=${values.cpu}`] : []),
    ...(values.os ? [`--os=${values.os}`] : []),
    ...(values.offline ? ['--offline'] : []),
    ...(values['prefer-offline'] ? ['--prefer-offline'] : []),
  ]);
  const modules = path.join(ROOT, 'node_modules');
  const before = treeBytes(modules);
  for (const p of prunePlan(platform, arch)) rmSync(path.join(modules, p), { recursive: true, force: true });
  const after = treeBytes(modules);
  console.error(`install-board: pruned ${mib(before - after)} of files for other platforms and browsers`);
  if (values['no-build'] || foreign) {
    console.error(`install-board: build skipped${foreign ? ` (installed for ${platform}/${arch}; run \`npm run build\` there)` : ''}`);
  } else {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status || 1);
  }
  console.error(`install-board: node_modules ${mib(after)} (${after} bytes) for ${platform}/${arch}`);
  if (!existsSync(path.join(modules, 'onnxruntime-node', 'bin', 'napi-v6', platform, arch))) {
    console.error(`install-board: onnxruntime-node has no ${platform}/${arch} build: the agent runs models with onnxruntime-web (--ep wasm, or auto)`);
  }
}

main();
