/**
 * Where the garment is: connected blobs of pixels that stand out from the table, the largest one,
 * and the pieces close enough to it to be part of the same garment. Detached blobs farther away (a
 * dark patch, a shadow, a tool at the edge of the table) are left out of the trim box, so they no
 * longer shrink the garment to a few pixels. Pure maths over plain arrays.
 */

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Blob {
  area: number;
  left: number;
  top: number;
  /** Inclusive. */
  right: number;
  bottom: number;
}

/**
 * Blobs smaller than this many working-frame pixels are noise or JPEG blocks, not cloth (the old
 * rule, "a row or column counts only with two such pixels", in blob form).
 */
export const MIN_BLOB_PIXELS = 3;
/**
 * A blob joins the garment when its box is within this fraction of the garment's longer side (and at
 * least MIN_GAP_PIXELS) of the garment's box: a sandal's straps, a bag's handle and the faint parts of
 * a light garment break into pieces at the threshold, a few pixels apart.
 */
const GAP_FRACTION = 0.15;
const MIN_GAP_PIXELS = 3;
/** A left-out blob this large, relative to the garment, means the frame holds something else too. */
export const SIGNIFICANT_BLOB_FRACTION = 0.05;

/** 8-connected components of `mask` (non-zero = foreground), each with its area and bounding box. */
export function findBlobs(mask: Uint8Array, width: number, height: number, minArea = MIN_BLOB_PIXELS): Blob[] {
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  const blobs: Blob[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    const blob: Blob = { area: 0, left: width, top: height, right: -1, bottom: -1 };
    while (top > 0) {
      const i = stack[--top];
      const x = i % width;
      const y = (i - x) / width;
      blob.area++;
      if (x < blob.left) blob.left = x;
      if (x > blob.right) blob.right = x;
      if (y < blob.top) blob.top = y;
      if (y > blob.bottom) blob.bottom = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const j = ny * width + nx;
          if (mask[j] && !seen[j]) {
            seen[j] = 1;
            stack[top++] = j;
          }
        }
      }
    }
    if (blob.area >= minArea) blobs.push(blob);
  }
  return blobs;
}

export interface GarmentSelection {
  /** The trim box: the largest blob and the blobs near it. */
  box: Box;
  /** Pixels of the blobs inside the trim box. */
  area: number;
  /** Blobs merged into the garment (the largest included). */
  merged: number;
  /** Blobs left out because they are detached from the garment, largest first. */
  leftOut: Blob[];
}

/** Gap between two boxes in pixels along the axis where they are farthest apart (0 if they touch). */
function gap(a: Blob, b: Blob): number {
  const dx = Math.max(0, b.left - a.right - 1, a.left - b.right - 1);
  const dy = Math.max(0, b.top - a.bottom - 1, a.top - b.bottom - 1);
  return Math.max(dx, dy);
}

/** The garment: the largest blob, grown by every blob within the gap of the box so far. Null when there is none. */
export function selectGarment(blobs: readonly Blob[]): GarmentSelection | null {
  if (blobs.length === 0) return null;
  const rest = [...blobs].sort((a, b) => b.area - a.area);
  const first = rest.shift() as Blob;
  const box: Blob = { ...first };
  let merged = 1;
  for (let grew = true; grew; ) {
    grew = false;
    const limit = Math.max(MIN_GAP_PIXELS, Math.round(GAP_FRACTION * Math.max(box.right - box.left + 1, box.bottom - box.top + 1)));
    for (let k = 0; k < rest.length; k++) {
      const b = rest[k];
      if (gap(box, b) > limit) continue;
      box.area += b.area;
      box.left = Math.min(box.left, b.left);
      box.top = Math.min(box.top, b.top);
      box.right = Math.max(box.right, b.right);
      box.bottom = Math.max(box.bottom, b.bottom);
      rest.splice(k--, 1);
      merged++;
      grew = true;
    }
  }
  return {
    box: { left: box.left, top: box.top, width: box.right - box.left + 1, height: box.bottom - box.top + 1 },
    area: box.area,
    merged,
    leftOut: rest,
  };
}
