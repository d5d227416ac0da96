import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_SIZE } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { preprocessImage } from '../../src/preprocess.ts';
import type { AdoptOptions } from '../onnx/adopt.ts';
import { loadEvalSet } from '../eval/evaluate.ts';
import { imageAt } from '../data/dataset.ts';
import { topConfidences } from '../eval/image-errors.ts';
import { tileGridPng, type Tile } from '../plots/tile-grid.ts';
import { gridColumns, toGray, toSignedGray } from './visual.ts';
import type { InsideView } from './inspect-types.ts';

/** `edgeloom inspect`: first-layer filters, every conv layer's feature maps and a saliency map for one image. */
export interface InspectOptions extends AdoptOptions {
  model: string;
  /** An image file (PNG/JPEG...), preprocessed as the agent does (grayscale 28x28, auto-inverted). */
  image?: string;
  /** Image N of the test split of the model's data (default 0 when --image is not given). */
  index?: number;
  data?: string;
  out: string;
  maxChannels?: number;
}

export const INSPECT_DEFAULTS = { index: 0, maxChannels: 64 } as const;
/** Feature-map grids wider than this many tiles wrap; 16 keeps a 64-channel layer 4 rows high. */
const MAX_COLUMNS = 16;

export interface InspectResult {
  model: string;
  kind: 'onnx' | 'tfjs';
  image: { source: string; label: string | null; inverted?: boolean };
  predicted: { label: string; confidence: number };
  filters: { layer: string; size: [number, number]; shown: number; total: number; file: string } | null;
  layers: Array<{ layer: string; shape: [number, number, number]; shown: number; file: string }>;
  saliency: string | null;
  notes: string[];
  files: string[];
}

interface OpenedImage {
  pixels: Uint8Array;
  source: string;
  label: string | null;
  inverted?: boolean;
}

async function modelDescription(path: string, foreign: AdoptOptions): Promise<{ kind: 'onnx' | 'tfjs'; classNames: string[]; recipe?: Record<string, unknown> }> {
  if (!existsSync(path)) throw new UserError(`--model ${path}: not found (a tfjs model directory or an .onnx file)`);
  if (statSync(path).isDirectory()) {
    const { metadataFromModelDir } = await import('../onnx/export.ts');
    const meta = await metadataFromModelDir(path);
    return { kind: 'tfjs', classNames: meta.classes ?? [...FASHION_MNIST_CLASSES], recipe: meta.recipe };
  }
  const { modelForTools } = await import('../onnx/adopt.ts');
  const { info } = modelForTools(await readFile(path), path, foreign);
  return { kind: 'onnx', classNames: info.metadata.classes, recipe: info.metadata.recipe };
}

async function openImage(opts: InspectOptions, model: { classNames: string[]; recipe?: Record<string, unknown> }): Promise<OpenedImage> {
  if (opts.image && opts.index !== undefined) throw new UserError('--image and --index: give one of them (a file, or an image of the test split)');
  if (opts.image) {
    if (!existsSync(opts.image)) throw new UserError(`--image ${opts.image}: not found`);
    try {
      const r = await preprocessImage(await readFile(opts.image));
      return { pixels: r.pixels, source: opts.image, label: null, inverted: r.inverted };
    } catch (err) {
      throw new UserError(`--image ${opts.image}: ${(err as Error).message}`);
    }
  }
  const index = opts.index ?? INSPECT_DEFAULTS.index;
  const set = await loadEvalSet(model, 'test', undefined, 1, opts.data);
  if (!Number.isInteger(index) || index < 0
    || index >= set.count) throw new UserError(`--index: expected an integer from 0 to ${set.count - 1} (the test split has ${set.count} images), got ${index}`);
  return { pixels: imageAt(set, index), source: set.files ? set.files[index] : `test image ${index}`, label: set.classNames[set.labels[index]] };
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 60);
}

async function writePng(out: string, name: string, png: Buffer, files: string[]): Promise<string> {
  await writeFileAtomic(join(out, name), png);
  files.push(name);
  return name;
}

export async function runInspect(opts: InspectOptions): Promise<InspectResult> {
  const maxChannels = opts.maxChannels ?? INSPECT_DEFAULTS.maxChannels;
  if (!Number.isInteger(maxChannels) || maxChannels < 1 || maxChannels > 512) throw new UserError(`--max-channels: expected an integer from 1 to 512, got ${maxChannels}`);
  const desc = await modelDescription(opts.model, opts);
  const image = await openImage(opts, desc);
  let view: InsideView;
  if (desc.kind === 'tfjs') {
    const { inspectTfjs } = await import('./inspect-tfjs.ts');
    view = await inspectTfjs(opts.model, image.pixels, maxChannels);
  } else {
    const { inspectOnnx } = await import('./inspect-onnx.ts');
    view = await inspectOnnx(opts.model, image.pixels, maxChannels, opts);
  }
  const k = desc.classNames.length;
  if (view.logits.length !== k) throw new UserError(`--model ${opts.model}: ${view.logits.length} outputs but ${k} class names`);
  let top = 0;
  for (let c = 1; c < k; c++) if (view.logits[c] > view.logits[top]) top = c;
  const predicted = { label: desc.classNames[top], confidence: Math.round(topConfidences(view.logits, k)[0] * 1e4) / 1e4 };

  const files: string[] = [];
  const caption = `${image.label ? `true ${image.label}, ` : ''}predicted ${predicted.label} ${(predicted.confidence * 100).toFixed(1)}%`;
  const inputTile: Tile = { pixels: image.pixels, width: IMAGE_SIZE, height: IMAGE_SIZE, caption: 'input' };
  await writePng(opts.out, 'input.png', await tileGridPng([inputTile], { cols: 1, scale: 8, title: caption }), files);

  let filters: InspectResult['filters'] = null;
  if (view.filters) {
    const f = view.filters;
    const tiles = f.planes.map((p, i) => ({ pixels: toSignedGray(p), width: f.width, height: f.height, caption: String(i) }));
    const file = await writePng(opts.out, 'filters.png', await tileGridPng(tiles, { cols: gridColumns(tiles.length, MAX_COLUMNS),
      title: `${f.layer}: ${f.planes.length} of ${f.total} first-layer filters ${f.width}x${f.height} (grey 0, white +, black -)` }), files);
    filters = { layer: f.layer, size: [f.height, f.width], shown: f.planes.length, total: f.total, file };
  }

  const layers: InspectResult['layers'] = [];
  for (const [i, m] of view.maps.entries()) {
    const tiles = m.planes.map((p, c) => ({ pixels: toGray(p), width: m.width, height: m.height, caption: String(c) }));
    const name = `feature-maps-${String(i + 1).padStart(2, '0')}-${fileSafe(m.layer)}.png`;
    const title = `${m.layer}: ${m.height}x${m.width}, ${m.planes.length === m.channels ? `${m.channels} channels` : `${m.planes.length} of ${m.channels} channels`} (${caption})`;
    await writePng(opts.out, name, await tileGridPng(tiles, { cols: gridColumns(tiles.length, MAX_COLUMNS), title }), files);
    layers.push({ layer: m.layer, shape: [m.height, m.width, m.channels], shown: m.planes.length, file: name });
  }

  let saliency: string | null = null;
  if (view.saliency) {
    const tiles: Tile[] = [inputTile, { pixels: toGray(view.saliency), width: IMAGE_SIZE, height: IMAGE_SIZE, caption: `saliency (${predicted.label})` }];
    saliency = await writePng(opts.out, 'saliency.png', await tileGridPng(tiles, { cols: 2, scale: 8, title: '|d logit / d pixel| of the predicted class' }), files);
  }

  const result: InspectResult = {
    model: opts.model,
    kind: desc.kind,
    image: { source: image.source, label: image.label, ...(image.inverted !== undefined ? { inverted: image.inverted } : {}) },
    predicted,
    filters,
    layers,
    saliency,
    notes: view.notes,
    files: [...files, 'report.json', 'report.md'],
  };
  await writeFileAtomic(join(opts.out, 'report.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFileAtomic(join(opts.out, 'report.md'), inspectMarkdown(result));
  return result;
}

export function inspectMarkdown(r: InspectResult): string {
  const lines = [
    `# Inside ${r.model} (${r.kind})`,
    '',
    `Image: ${r.image.source}${r.image.label ? ` (${r.image.label})` : ''}; predicted **${r.predicted.label}** (${(r.predicted.confidence * 100).toFixed(1)}%).`,
    '',
    '![input](input.png)',
    '',
  ];
  if (r.filters) lines.push('## First-layer filters', '', `${r.filters.layer}: ${r.filters.shown} of ${r.filters.total} filters, ${r.filters.size[0]}x${r.filters.size[1]}.`, '',
    `![filters](${r.filters.file})`, '');
  if (r.layers.length) {
    lines.push('## Feature maps', '', '| layer | height x width x channels | shown | file |', '|---|---|---:|---|');
    for (const l of r.layers) lines.push(`| ${l.layer} | ${l.shape.join(' x ')} | ${l.shown} | [${l.file}](${l.file}) |`);
    lines.push('', ...r.layers.map((l) => `![${l.layer}](${l.file})`), '');
  }
  if (r.saliency) lines.push('## Saliency', '', `![saliency](${r.saliency})`, '');
  if (r.notes.length) lines.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return `${lines.join('\n')}\n`;
}

export function formatInspect(r: InspectResult, out: string): string {
  return [
    `${r.image.source}${r.image.label ? ` (${r.image.label})` : ''}: predicted ${r.predicted.label} (${(r.predicted.confidence * 100).toFixed(1)}%)`,
    r.filters ? `first-layer filters: ${r.filters.layer}, ${r.filters.shown} of ${r.filters.total} (${r.filters.size.join('x')})` : 'first-layer filters: none found',
    ...r.layers.map((l) => `feature maps ${l.layer}: ${l.shape.join('x')}`),
    ...r.notes.map((n) => `note: ${n}`),
    `wrote ${r.files.length} files to ${out}`,
  ].join('\n');
}
