/**
 * What the device's decoder (src/preprocess.ts, sharp) and a browser's decoder (the dashboard's
 * "Try the model") share, kept free of Node-only imports so a browser bundle can import it.
 */

/**
 * libvips shrinks only frames larger than this (JPEG: at decode time, by libjpeg's DCT scaling, when
 * the factor is over 2). Smaller frames are decoded as they are: measured on 320x240 and 640x480
 * camera JPEGs, any libvips resize step costs more than it saves (a 640x480 frame decodes in 1.1x the
 * time of a bare 320x240 grey decode, 1.7x when shrunk on load to 319 wide), while the TypeScript
 * luma step shrinks by whole blocks in the same pass (src/preprocess/convert.ts, `toWorkingGray`).
 */
export const DECODE_LIMIT = 640;

/** pixel / 255, as the model contract says; `images` are 784-byte images, concatenated. */
export function toModelInput(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i] / 255;
  return out;
}
