import sharp from 'sharp';
import { IMAGE_PIXELS, IMAGE_SIZE } from './classes.ts';

/**
 * Turns any camera frame or image file into a 28x28 8-bit Fashion-MNIST-style image (bright
 * garment on black), the same way for training's image-folder reader and for the device.
 * TODO(data helper): the full Xiao et al. 2017 conversion with background-decided negation.
 */
export interface RegionOfInterest {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface PreprocessOptions {
  /** Crop this region of the decoded frame first. */
  roi?: RegionOfInterest;
  /** Negate the image: 'auto' decides from the background (light table -> negate). */
  invert: 'auto' | 'always' | 'never';
}

export interface PreprocessResult {
  pixels: Uint8Array; // 784 values, 0..255
  inverted: boolean;
  decodeMs: number;
  preprocessMs: number;
}

export async function preprocessImage(input: Uint8Array, opts: Partial<PreprocessOptions> = {}): Promise<PreprocessResult> {
  const t0 = performance.now();
  let img = sharp(input, { failOn: 'error' });
  if (opts.roi) img = img.extract(opts.roi);
  const { data } = await img.grayscale().resize(IMAGE_SIZE, IMAGE_SIZE, { fit: 'contain', background: 0 }).raw().toBuffer({ resolveWithObject: true });
  const t1 = performance.now();
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, IMAGE_PIXELS), inverted: false, decodeMs: t1 - t0, preprocessMs: 0 };
}

/** pixel / 255, as the model contract says; `images` are 784-byte images, concatenated. */
export function toModelInput(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i] / 255;
  return out;
}
