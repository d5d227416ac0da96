import { softmax, topK } from '../../src/scores.ts';
import * as ort from 'onnxruntime-web/wasm';
import { convertFrame, type FrameQuality, type RawFrame } from '../../src/preprocess/convert.ts';
import { DECODE_LIMIT, toModelInput } from '../../src/preprocess/model-input.ts';
import { IMAGE_SIZE } from '../../src/classes.ts';

/**
 * "Try the model" in the browser: the agent's preprocessing and model, loaded only when someone
 * tries an image (a separate chunk: onnxruntime-web and its 14 MB WebAssembly stay out of the
 * fleet view). Only the decoder differs from the agent: the browser's instead of libvips; from the
 * decoded pixels on it is the agent's code (src/preprocess/convert.ts), so the bytes are the same
 * (docs/preprocessing.md, "In a browser").
 */
export interface TopClass {
  label: string;
  classId: number;
  confidence: number;
}

export interface Classification {
  top: TopClass[];
  /** The 28x28 image the model saw, 0..255. */
  pixels: Uint8Array;
  inverted: boolean;
  quality: FrameQuality;
  /** Decoded size (after EXIF orientation and the shrink of frames over 640 pixels). */
  width: number;
  height: number;
  ms: { decode: number; preprocess: number; inference: number };
}

/** Refused before decoding: a phone photo is a few MB; nothing legitimate needs more. */
export const MAX_FILE_BYTES = 30 * 1024 * 1024;
/** Refused after decoding (the bitmap exists already, but no canvas of that size is made). */
export const MAX_DECODED_PIXELS = 50_000_000;

export class Classifier {
  private constructor(private readonly session: ort.InferenceSession, private readonly classes: readonly string[]) {}

  static async load(modelUrl: string, classes: readonly string[]): Promise<Classifier> {
    // The .wasm comes from the dashboard server (node_modules/onnxruntime-web/dist), never a CDN. Only
    // the wasm: a prefix would make onnxruntime-web import its loader .mjs from there too, while this
    // build (onnxruntime-web/wasm, "bundle") carries the loader inside.
    ort.env.wasm.wasmPaths = { wasm: new URL('/ort/ort-wasm-simd-threaded.wasm', location.href).href };
    // One thread: a 28x28 CNN gains nothing from more, and threads need cross-origin isolation.
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    const res = await fetch(modelUrl);
    if (!res.ok) throw new Error(`cannot load the model: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    return new Classifier(session, classes);
  }

  async classify(image: Blob): Promise<Classification> {
    const t0 = performance.now();
    const frame = await decode(image);
    const t1 = performance.now();
    const { pixels, inverted, quality } = convertFrame(frame, 'auto');
    const t2 = performance.now();
    const input = new ort.Tensor('float32', toModelInput(pixels), [1, 1, IMAGE_SIZE, IMAGE_SIZE]);
    const out = await this.session.run({ input });
    const logits = (out.logits.data as Float32Array).subarray(0, this.classes.length);
    if (!logits.every(Number.isFinite)) throw new Error('the model output NaN or infinite logits');
    const top = topK(softmax(logits), this.classes, 3);
    return { top, pixels, inverted, quality, width: frame.width, height: frame.height, ms: { decode: t1 - t0, preprocess: t2 - t1, inference: performance.now() - t2 } };
  }
}

/**
 * The browser's half of the agent's decodeFrame (src/preprocess.ts): upright by EXIF, frames over
 * DECODE_LIMIT shrunk to it on the longer side, 8-bit RGBA.
 */
export async function decode(image: Blob): Promise<RawFrame> {
  if (image.size === 0) throw new Error('cannot decode image: the file is empty (0 bytes)');
  if (image.size > MAX_FILE_BYTES) throw new Error(`cannot decode image: ${(image.size / 1048576).toFixed(1)} MB is over the ${MAX_FILE_BYTES / 1048576} MB limit`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image, { imageOrientation: 'from-image' });
  } catch {
    throw new Error('cannot decode image: not an image this browser can read (JPEG, PNG, WebP, GIF)');
  }
  try {
    const { width, height } = bitmap;
    if (width * height > MAX_DECODED_PIXELS) throw new Error(`cannot decode image: ${width}x${height} is over ${MAX_DECODED_PIXELS / 1e6} megapixels`);
    const scale = Math.min(1, DECODE_LIMIT / Math.max(width, height));
    if (scale < 1) {
      const resized = await createImageBitmap(bitmap, {
        resizeWidth: Math.max(1, Math.round(width * scale)),
        resizeHeight: Math.max(1, Math.round(height * scale)),
        resizeQuality: 'high',
      });
      bitmap.close();
      bitmap = resized;
    }
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('cannot decode image: no 2D canvas in this browser');
    ctx.drawImage(bitmap, 0, 0);
    const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: bitmap.width, height: bitmap.height, channels: 4 };
  } finally {
    bitmap.close();
  }
}

