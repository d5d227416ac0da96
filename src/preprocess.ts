import sharp from 'sharp';
import { firstLine } from './errors.ts';
import { DECODE_LIMIT } from './preprocess/model-input.ts';
import { convertFrame, UnusableFrameError, type FrameQuality, type InvertMode, type RawFrame } from './preprocess/convert.ts';

/**
 * Turns any camera frame or image file into a 28x28 8-bit Fashion-MNIST-style image (bright garment
 * on black), the same way for training's image-folder reader and for the device. It follows the
 * conversion that produced Fashion-MNIST (Xiao et al. 2017, section 2) and adds what a camera needs
 * on top of product photos: a noisy, unevenly lit table instead of a pure white background. The
 * steps and the reasons are in docs/preprocessing.md.
 *
 * Split: libvips does the decoding in ONE sharp pipeline (EXIF orientation, ROI crop, large frames
 * shrunk on load, 8-bit sRGB); everything after it is pure TypeScript over plain typed arrays
 * (src/preprocess/*.ts): one pass to 601 luma at the working size, then the conversion on that small
 * frame. A browser can run the TypeScript part unchanged on a canvas' RGBA pixels.
 */
// DECODE_LIMIT and toModelInput live in a module without Node imports so the dashboard's browser bundle can use them.
export { DECODE_LIMIT, toModelInput } from './preprocess/model-input.ts';
export { UnusableFrameError, type FrameQuality, type QualityIssue, type UnusableReason } from './preprocess/convert.ts';

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
  invert: InvertMode;
}

export interface PreprocessResult {
  pixels: Uint8Array; // 784 values, 0..255
  inverted: boolean;
  /** How much of the 28x28 image the garment fills, and what looks wrong (docs/preprocessing.md). */
  quality: FrameQuality;
  decodeMs: number;
  preprocessMs: number;
}

export async function preprocessImage(input: Uint8Array, opts: Partial<PreprocessOptions> = {}): Promise<PreprocessResult> {
  const t0 = performance.now();
  const frame = await decodeFrame(input, opts.roi);
  const t1 = performance.now();
  const { pixels, inverted, quality } = convertFrame(frame, opts.invert ?? 'auto');
  return { pixels, inverted, quality, decodeMs: t1 - t0, preprocessMs: performance.now() - t1 };
}

/**
 * One libvips pipeline: decode (upright by EXIF), crop the ROI, shrink frames over DECODE_LIMIT
 * (JPEG on load), 8-bit sRGB (16-bit, grey, palette and CMYK images included; alpha kept).
 */
export async function decodeFrame(input: Uint8Array, roi?: RegionOfInterest): Promise<RawFrame> {
  if (input.length === 0) throw new FrameDecodeError('empty-frame', 'cannot decode image: input is empty (0 bytes)');
  try {
    // autoOrient: phone photos store pixels sideways plus an EXIF flag; garments must be upright.
    let img = sharp(input, { failOn: 'error', autoOrient: true, limitInputPixels: MAX_INPUT_PIXELS });
    if (roi) img = img.extract(roi);
    const { data, info } = await img
      .resize(DECODE_LIMIT, DECODE_LIMIT, { fit: 'inside', withoutEnlargement: true })
      // 'srgb' (not 'b-w'): libvips' grey is luminance in linear light, not the 601 luma of step 4,
      // and it costs as much as decoding the frame (a bare grey decode takes 1.9x a bare RGB one).
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels as RawFrame['channels'] };
  } catch (err) {
    const where = roi ? ` (roi ${roi.left},${roi.top} ${roi.width}x${roi.height})` : '';
    throw new FrameDecodeError(await decodeFailure(input, roi), `cannot decode image${where}: ${firstLine(err)}`);
  }
}

/** Larger images are refused before decoding (sharp's own default limit, 0x3FFF squared, stated here so the two agree). */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;

/** Why decodeFrame failed, as the agent counts it in stats. */
export type FrameDecodeReason = 'empty-frame' | 'undecodable' | 'frame-too-large' | 'roi-outside-frame';

/**
 * decodeFrame's failure, with its reason in `code`. The name stays `Error`: the message is what
 * people read (`cannot decode image: ...`), the code is what stats count.
 */
export class FrameDecodeError extends Error {
  constructor(readonly code: FrameDecodeReason, message: string) {
    super(message);
  }
}

/**
 * The reason of a failed decode, from the image header (read again, only on failure) rather than
 * from libvips' message text: an oversized image or an ROI outside the upright frame, else the
 * data itself does not decode.
 */
async function decodeFailure(input: Uint8Array, roi: RegionOfInterest | undefined): Promise<FrameDecodeReason> {
  const meta = await sharp(input, { limitInputPixels: false }).metadata().catch(() => null);
  if (!meta || !(meta.width > 0 && meta.height > 0)) return 'undecodable';
  if (meta.width * meta.height > MAX_INPUT_PIXELS) return 'frame-too-large';
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (roi && (roi.left < 0 || roi.top < 0 || roi.left + roi.width > width || roi.top + roi.height > height)) return 'roi-outside-frame';
  return 'undecodable';
}

/** The stats reason for a frame preprocessImage refused as unusable, or null for other errors. */
export function unusableReason(err: unknown): string | null {
  return err instanceof UnusableFrameError ? err.code : null;
}

/** The stats reason for a frame preprocessImage could not decode or refused, or null for other errors. */
export function frameErrorReason(err: unknown): string | null {
  return err instanceof FrameDecodeError ? err.code : unusableReason(err);
}
