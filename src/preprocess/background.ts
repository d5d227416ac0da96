/**
 * The table behind the garment: a brightness plane fitted to the frame's border, its noise level,
 * and the blur that keeps noise from deciding where the garment's edges are. Pure maths over plain
 * arrays (no I/O, no sharp), so a browser can run it unchanged.
 */

/**
 * Border pixels used to fit the background: enough for a plane and a noise level (the MAD of 1,500
 * samples is within ~3% of the true sigma), few enough to stay fast.
 */
const BACKGROUND_SAMPLES = 1500;
/** Width of the border band, as a fraction of the frame's shorter side. */
const BAND_FRACTION = 0.03;

export interface Stats {
  median: number;
  sigma: number;
}

/** Median and a robust sigma (1.4826 * MAD), so a few garment pixels on the border do not matter. */
export function robustStats(values: ArrayLike<number>): Stats {
  const work = Float64Array.from(values);
  if (work.length === 0) return { median: 0, sigma: 0 };
  const mid = work.length >> 1;
  const median = select(work, mid);
  for (let i = 0; i < work.length; i++) work[i] = Math.abs(work[i] - median);
  return { median, sigma: 1.4826 * select(work, mid) };
}

/** The k-th smallest value (0-based), rearranging `a` in place: Hoare's quickselect, O(n) on average. */
export function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Background brightness as a plane over the frame: a lamp to one side lights a table unevenly. */
export interface BackgroundModel {
  /** Brightness at the frame centre, and its change from the left to the right / top to bottom edge. */
  level: number;
  dx: number;
  dy: number;
  /** Robust noise sigma of the border pixels around the plane. */
  sigma: number;
}

export function backgroundAt(bg: BackgroundModel, x: number, y: number, width: number, height: number): number {
  return bg.level + bg.dx * (x / width - 0.5) + bg.dy * (y / height - 0.5);
}

/** Border samples: positions (-0.5..0.5) and indices into the frame, evenly strided. */
export interface BorderSamples {
  xs: Float64Array;
  ys: Float64Array;
  index: Int32Array;
}

/** Every `stride`-th pixel of the band along the four edges in raster order, at most BACKGROUND_SAMPLES of them. */
export function borderSamples(width: number, height: number): BorderSamples {
  const band = Math.max(1, Math.round(Math.min(width, height) * BAND_FRACTION));
  const borderCount = width * height - Math.max(0, width - 2 * band) * Math.max(0, height - 2 * band);
  const stride = Math.max(1, Math.ceil(borderCount / BACKGROUND_SAMPLES));
  const n = Math.ceil(borderCount / stride);
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const index = new Int32Array(n);
  let seen = 0;
  let k = 0;
  const take = (x: number, y: number) => {
    if (seen++ % stride === 0 && k < n) {
      xs[k] = x / width - 0.5;
      ys[k] = y / height - 0.5;
      index[k++] = y * width + x;
    }
  };
  for (let y = 0; y < height; y++) {
    if (y < band || y >= height - band) {
      for (let x = 0; x < width; x++) take(x, y);
    } else {
      for (let x = 0; x < Math.min(band, width); x++) take(x, y);
      for (let x = Math.max(band, width - band); x < width; x++) take(x, y);
    }
  }
  return { xs: xs.subarray(0, k), ys: ys.subarray(0, k), index: index.subarray(0, k) };
}

/**
 * Fits the plane to a band of pixels along the four edges (where the table shows), twice: the second
 * fit leaves out pixels far from the first one, which are a garment touching the border.
 */
export function fitBackground(img: ArrayLike<number>, width: number, height: number): BackgroundModel {
  const { xs, ys, index } = borderSamples(width, height);
  const vs = new Float64Array(index.length);
  for (let i = 0; i < index.length; i++) vs[i] = img[index[i]];
  const start = robustStats(vs);
  let model: BackgroundModel = { level: start.median, dx: 0, dy: 0, sigma: start.sigma };
  const keep = new Int32Array(vs.length);
  for (let round = 0; round < 2; round++) {
    const limit = Math.max(3 * model.sigma, 2);
    let kept = 0;
    for (let i = 0; i < vs.length; i++) {
      if (Math.abs(vs[i] - (model.level + model.dx * xs[i] + model.dy * ys[i])) <= limit) keep[kept++] = i;
    }
    if (kept < 3) break;
    const plane = leastSquaresPlane(xs, ys, vs, keep.subarray(0, kept));
    if (!plane) break;
    const residuals = new Float64Array(kept);
    for (let j = 0; j < kept; j++) {
      const i = keep[j];
      residuals[j] = vs[i] - (plane[0] + plane[1] * xs[i] + plane[2] * ys[i]);
    }
    model = { level: plane[0], dx: plane[1], dy: plane[2], sigma: robustStats(residuals).sigma };
  }
  return model;
}

/** Robust sigma of another image of the same frame (e.g. its blurred copy) around a fitted plane. */
export function borderSigma(img: ArrayLike<number>, width: number, height: number, bg: BackgroundModel): number {
  const { xs, ys, index } = borderSamples(width, height);
  const residuals = new Float64Array(index.length);
  for (let i = 0; i < index.length; i++) residuals[i] = img[index[i]] - (bg.level + bg.dx * xs[i] + bg.dy * ys[i]);
  // Pixels of a garment touching the border are far out; the MAD ignores them as long as they are a minority.
  return robustStats(residuals).sigma;
}

/** v = a + b*x + c*y over the kept samples, by the normal equations (3x3, Cramer's rule). */
function leastSquaresPlane(xs: Float64Array, ys: Float64Array, vs: Float64Array, keep: Int32Array): [number, number, number] | null {
  let n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sv = 0, sxv = 0, syv = 0;
  for (let j = 0; j < keep.length; j++) {
    const i = keep[j];
    const x = xs[i], y = ys[i], v = vs[i];
    n++; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y; sv += v; sxv += x * v; syv += y * v;
  }
  const det3 = (m: number[]) => m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
  const d = det3([n, sx, sy, sx, sxx, sxy, sy, sxy, syy]);
  if (Math.abs(d) < 1e-9) return null;
  return [
    det3([sv, sx, sy, sxv, sxx, sxy, syv, sxy, syy]) / d,
    det3([n, sv, sy, sx, sxv, sxy, sy, syv, syy]) / d,
    det3([n, sx, sv, sx, sxx, sxv, sy, sxy, syv]) / d,
  ];
}

/**
 * Box blur, two passes per axis (close to a Gaussian of sigma ~ radius); keeps noise from deciding
 * where edges are. Edges average over the pixels that exist.
 */
export function boxBlur(src: ArrayLike<number>, width: number, height: number, radius: number): Float32Array {
  let a = Float32Array.from(src);
  let b = new Float32Array(a.length);
  for (let pass = 0; pass < 2; pass++) {
    blurRows(a, b, width, height, radius);
    blurColumns(b, a, width, height, radius);
  }
  return a;
}

function blurRows(src: Float32Array, dst: Float32Array, width: number, height: number, radius: number): void {
  const r = Math.min(radius, width - 1);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let sum = 0;
    for (let k = 0; k <= r; k++) sum += src[row + k];
    let count = r + 1;
    for (let x = 0; x < width; x++) {
      dst[row + x] = sum / count;
      const add = x + r + 1;
      const drop = x - r;
      if (add < width) { sum += src[row + add]; count++; }
      if (drop >= 0) { sum -= src[row + drop]; count--; }
    }
  }
}

/** Row-major running column sums: one pass over memory in order, not one column at a time. */
function blurColumns(src: Float32Array, dst: Float32Array, width: number, height: number, radius: number): void {
  const r = Math.min(radius, height - 1);
  const sums = new Float32Array(width);
  for (let k = 0; k <= r; k++) for (let x = 0, o = k * width; x < width; x++) sums[x] += src[o + x];
  let count = r + 1;
  for (let y = 0; y < height; y++) {
    const inv = 1 / count;
    const row = y * width;
    for (let x = 0; x < width; x++) dst[row + x] = sums[x] * inv;
    const add = y + r + 1;
    const drop = y - r;
    if (add < height) {
      for (let x = 0, o = add * width; x < width; x++) sums[x] += src[o + x];
      count++;
    }
    if (drop >= 0) {
      for (let x = 0, o = drop * width; x < width; x++) sums[x] -= src[o + x];
      count--;
    }
  }
}
