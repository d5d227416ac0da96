/**
 * Which models the inference bench measures: the shipped models in models/, paired fp32 with int8.
 * The pairing itself is a pure function (`pairModels`) so tests can pin it.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';

export interface ModelEntry {
  /** Path as given (or models/NAME.onnx). */
  file: string;
  sha256: string;
  quantized: boolean;
  arch: string | null;
  exportedAt: string | null;
  /** From a model card next to it (NAME.json): the fp32/int8 counterparts, file names in models/. */
  card: { fp32?: string; int8?: string } | null;
}

export interface ModelPair {
  /** Display name: the fp32 file's base name (or the int8 one's without `.int8`). */
  name: string;
  /** Architecture from the metadata (edgeloom.arch), when known. */
  arch: string | null;
  fp32: string | null;
  int8: string | null;
  /** Other files with identical bytes (e.g. default.onnx as a copy of edgenet.int8.onnx). */
  aliases: string[];
}

function stem(file: string): string {
  return path.basename(file).replace(/\.onnx$/i, '');
}

/**
 * Pairs every fp32 model with its int8 version:
 * 1. byte-identical files are one model (the others are listed as aliases; `default.onnx` is never
 *    the name kept when another name exists);
 * 2. a model card's `fp32`/`int8` fields name the counterpart explicitly;
 * 3. `X.int8.onnx` (or `X-int8`, `X_int8`) belongs to `X.onnx`;
 * 4. otherwise an int8 file whose metadata has the same arch and export time as an fp32 file was
 *    quantized from it (`edgeloom quantize` keeps the export metadata).
 * Unpaired files become pairs with one side null. Pairs are sorted by name.
 */
export function pairModels(entries: readonly ModelEntry[]): ModelPair[] {
  const byHash = new Map<string, ModelEntry[]>();
  for (const e of entries) byHash.set(e.sha256, [...(byHash.get(e.sha256) ?? []), e]);
  const aliases = new Map<string, string[]>();
  const unique: ModelEntry[] = [];
  for (const group of byHash.values()) {
    const sorted = [...group].sort((a, b) => Number(stem(a.file) === 'default') - Number(stem(b.file) === 'default') || a.file.localeCompare(b.file));
    unique.push(sorted[0]);
    aliases.set(sorted[0].file, sorted.slice(1).map((e) => e.file));
  }
  // A card's word beats the file's own metadata and name.
  const cardInt8 = new Set(entries.flatMap((e) => (e.card?.int8 ? [path.basename(e.card.int8)] : [])));
  const cardFp32 = new Set(entries.flatMap((e) => (e.card?.fp32 ? [path.basename(e.card.fp32)] : [])));
  const isInt8 = (e: ModelEntry) => cardInt8.has(path.basename(e.file)) || (e.quantized && !cardFp32.has(path.basename(e.file)));
  const fp32 = unique.filter((e) => !isInt8(e));
  const int8 = unique.filter(isInt8);
  const partner = new Map<string, string>(); // int8 file -> fp32 file
  const taken = new Set<string>();
  const bind = (q: ModelEntry, f: ModelEntry | undefined) => {
    if (!f || partner.has(q.file) || taken.has(f.file)) return;
    partner.set(q.file, f.file);
    taken.add(f.file);
  };
  const byBase = (name: string | undefined) => (name ? unique.find((e) => path.basename(e.file) === path.basename(name)) : undefined);
  for (const q of int8) bind(q, fp32.find((f) => f === byBase(q.card?.fp32)));
  for (const f of fp32) {
    const q = int8.find((e) => e === byBase(f.card?.int8));
    if (q) bind(q, f);
  }
  for (const q of int8) bind(q, fp32.find((f) => stem(q.file).replace(/[._-]int8$/i, '') === stem(f.file)));
  for (const q of int8) bind(q, fp32.find((f) => !taken.has(f.file) && f.arch !== null && f.exportedAt !== null && f.arch === q.arch && f.exportedAt === q.exportedAt));

  const pairs: ModelPair[] = [];
  for (const f of fp32) {
    const q = int8.find((e) => partner.get(e.file) === f.file);
    pairs.push({ name: stem(f.file), arch: f.arch ?? q?.arch ?? null, fp32: f.file, int8: q?.file ?? null, aliases: [...(aliases.get(f.file) ?? []), ...(q ? aliases.get(q.file) ?? [] : [])] });
  }
  for (const q of int8) {
    if (!partner.has(q.file)) pairs.push({ name: stem(q.file).replace(/[._-]int8$/i, ''), arch: q.arch, fp32: null, int8: q.file, aliases: aliases.get(q.file) ?? [] });
  }
  return pairs.sort((a, b) => a.name.localeCompare(b.name));
}

/** Reads what pairing needs from one .onnx file (and NAME.json next to it, if any). */
export async function readModelEntry(file: string): Promise<ModelEntry> {
  const bytes = new Uint8Array(await readFile(file));
  const meta = parseModelMetadata(bytes, file);
  let card: ModelEntry['card'] = null;
  try {
    const raw = JSON.parse(await readFile(file.replace(/\.onnx$/i, '.json'), 'utf8')) as Record<string, unknown>;
    card = {
      ...(typeof raw.fp32 === 'string' ? { fp32: raw.fp32 } : {}),
      ...(typeof raw.int8 === 'string' ? { int8: raw.int8 } : {}),
    };
  } catch {
    // No card (or not JSON): pairing falls back to names and metadata.
  }
  return {
    file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    quantized: Boolean(meta?.quantization) || /[._-]int8\.onnx$/i.test(file),
    arch: meta?.arch ?? null,
    exportedAt: meta?.exportedAt ?? null,
    card,
  };
}

/** The models of a directory (every *.onnx), or the files given with --models; paired. */
export async function findModelPairs(dir: string, files: readonly string[] = []): Promise<ModelPair[]> {
  let list = [...files];
  if (list.length === 0) {
    const names = await readdir(dir).catch(() => [] as string[]);
    list = names.filter((n) => n.toLowerCase().endsWith('.onnx')).sort().map((n) => path.join(dir, n));
  }
  return pairModels(await Promise.all(list.map(readModelEntry)));
}
