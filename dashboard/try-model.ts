import { firstLine } from '../src/errors.ts';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { validateModelContract } from '../src/onnx/contract.ts';
import { loadTestImages } from '../device/sources/fashion-mnist.ts';
import { IMAGE_PIXELS } from '../src/classes.ts';
import { DEFAULT_MODEL_PATH } from '../src/defaults.ts';

/**
 * What the page's "Try the model" needs from the server, all from fixed paths chosen here (nothing
 * in a request names a file): the shipped model, its class names, a few Fashion-MNIST test images to
 * pick from, and onnxruntime-web's WebAssembly build from node_modules (no CDN: dashboards run on
 * factory networks without Internet access).
 */
export const TRY_MODEL_FILE = join(import.meta.dirname, '..', DEFAULT_MODEL_PATH);
/** Test images offered as samples: the test set is class-interleaved, so 20 gives two per class. */
export const SAMPLE_COUNT = 20;
/** onnxruntime-web's wasm-only build (`onnxruntime-web/wasm`) with its loader bundled in needs this one file. */
const ORT_WASM = 'ort-wasm-simd-threaded.wasm';

/** What the page reads from /try/model.json (or `{unavailable: reason}`). */
export interface TryModelInfo {
  /** `<file name>-<first 12 hex of sha256>`, as the agent names models in `info`. */
  id: string;
  classes: string[];
  /** Test accuracy recorded in the model's metadata, 0..1, or null. */
  accuracy: number | null;
  /** SAMPLE_COUNT test images, 784 bytes each, base64, with their true classes. */
  samples: { pixels: string; label: number }[];
}

export interface TryModelAssets {
  /** URL path -> [content type, bytes]. Only these paths are served. */
  files: Map<string, [string, Buffer]>;
  /** The wasm is 14 MB: read once, on its first request, not at every server start. */
  lazy: Map<string, [string, () => Promise<Buffer>]>;
  /** Why "Try the model" is unavailable, or null. */
  unavailable: string | null;
}

export async function loadTryModelAssets(modelFile = TRY_MODEL_FILE): Promise<TryModelAssets> {
  const files = new Map<string, [string, Buffer]>();
  const lazy = new Map<string, [string, () => Promise<Buffer>]>();
  let wasmPath: string;
  let model: Buffer;
  let info: TryModelInfo;
  // Reasons name no server path: the page shows them to whoever opens it.
  const unavailable = (reason: string): TryModelAssets => {
    const text = `Try the model is unavailable on this server: ${reason}`;
    files.set('/try/model.json', ['application/json', Buffer.from(JSON.stringify({ unavailable: text }))]);
    return { files, lazy, unavailable: text };
  };
  try {
    wasmPath = createRequire(import.meta.url).resolve(`onnxruntime-web/${ORT_WASM}`);
  } catch {
    return unavailable('onnxruntime-web is not installed (run `npm install`)');
  }
  try {
    model = await readFile(modelFile);
  } catch {
    return unavailable(`cannot read models/${basename(modelFile)}`);
  }
  try {
    const { metadata } = validateModelContract(model, modelFile, { requireEmbedding: false });
    const accuracy = metadata.metrics?.accuracy;
    info = {
      id: `${basename(modelFile).replace(/\.onnx$/i, '')}-${createHash('sha256').update(model).digest('hex').slice(0, 12)}`,
      classes: metadata.classes,
      accuracy: typeof accuracy === 'number' ? accuracy : null,
      samples: await samples(),
    };
  } catch (err) {
    return unavailable(firstLine(err));
  }
  files.set('/try/model.onnx', ['application/octet-stream', model]);
  files.set('/try/model.json', ['application/json', Buffer.from(JSON.stringify(info))]);
  let wasm: Promise<Buffer> | null = null;
  lazy.set(`/ort/${ORT_WASM}`, ['application/wasm', () => (wasm ??= readFile(wasmPath))]);
  return { files, lazy, unavailable: null };
}

async function samples(): Promise<TryModelInfo['samples']> {
  try {
    const { images, labels } = await loadTestImages();
    return Array.from({ length: SAMPLE_COUNT }, (_, i) => ({
      pixels: Buffer.from(images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)).toString('base64'),
      label: labels[i],
    }));
  } catch {
    return []; // no test set installed: photos can still be dropped
  }
}
