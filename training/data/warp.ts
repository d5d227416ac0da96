import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';

/**
 * Affine warps of 28x28 float images, pure: the geometric part of training augmentation
 * (training/trainer/augment.ts) and of the robustness corruptions and filters (training/robustness/).
 */

/** 2x3 affine map (output pixel -> input pixel), about the image centre. */
export interface Affine {
  a: number; b: number; c: number;
  d: number; e: number; f: number;
}

/**
 * Inverse map for: rotate by `theta`, shear by `shear`, zoom by `zoom`, then shift by (tx, ty)
 * pixels. Sampling the input at inverse(out) is how warps avoid holes.
 */
export function inverseAffine(theta: number, shear: number, zoom: number, tx: number, ty: number): Affine {
  // forward M = R(theta) * Sh(shear) * Z(zoom)
  const cos = Math.cos(theta), sin = Math.sin(theta);
  const m00 = zoom * cos, m01 = zoom * (-sin + cos * Math.tan(shear));
  const m10 = zoom * sin, m11 = zoom * (cos + sin * Math.tan(shear));
  const det = m00 * m11 - m01 * m10;
  const i00 = m11 / det, i01 = -m01 / det, i10 = -m10 / det, i11 = m00 / det;
  const cx = (IMAGE_SIZE - 1) / 2, cy = cx;
  // in = Minv * (out - centre - t) + centre
  return {
    a: i00, b: i01, c: cx - i00 * (cx + tx) - i01 * (cy + ty),
    d: i10, e: i11, f: cy - i10 * (cx + tx) - i11 * (cy + ty),
  };
}

/** Warps one 28x28 image with bilinear sampling; outside the image reads as background (0). */
export function warpImage(src: Float32Array, m: Affine, dst = new Float32Array(IMAGE_PIXELS)): Float32Array {
  const n = IMAGE_SIZE;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const sx = m.a * x + m.b * y + m.c;
      const sy = m.d * x + m.e * y + m.f;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      const px = (xx: number, yy: number) => (xx >= 0 && yy >= 0 && xx < n && yy < n ? src[yy * n + xx] : 0);
      dst[y * n + x] =
        px(x0, y0) * (1 - fx) * (1 - fy) + px(x0 + 1, y0) * fx * (1 - fy) + px(x0, y0 + 1) * (1 - fx) * fy + px(x0 + 1, y0 + 1) * fx * fy;
    }
  }
  return dst;
}
