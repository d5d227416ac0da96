import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseSync } from 'oxc-parser';

/**
 * The import graph of our sources and the layering rules it must follow (see README "Development").
 * Parsed with a real TypeScript parser (oxc-parser), not regexes: comments, strings and type-only
 * imports are told apart, and `import('...')` is seen wherever it is (also as a type).
 */

export type ImportKind = 'import' | 'type' | 'export' | 'dynamic';

export interface ImportEdge {
  /** Repository-relative paths with `/`, e.g. `training/data/held-out.ts`. */
  from: string;
  to: string;
  kind: ImportKind;
  line: number;
}

/** The folders whose imports the rules cover (the composition root, the core and the two layers on it). */
export const LAYERED_DIRS = ['src', 'device', 'training', 'cli'] as const;

const SOURCE = /\.(ts|mts|js|mjs)$/;

function listSources(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...listSources(root, rel));
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** A string literal (or a template without substitutions) as its value; null for anything computed. */
function literalValue(text: string): string | null {
  const t = text.trim();
  const m = /^(['"`])([^'"`$\\]*)\1$/.exec(t);
  return m ? m[2] : null;
}

export interface ParsedFile {
  edges: ImportEdge[];
  /** `import(expr)` whose target is computed: the rules cannot see where it goes. */
  computed: { from: string; line: number; text: string }[];
}

/** Every import of one file that points at another file of ours (relative specifiers); packages are skipped. */
export function parseImports(file: string, source: string): ParsedFile {
  const result = parseSync(file, source);
  if (result.errors.length) throw new Error(`${file}: cannot parse (${result.errors[0].message})`);
  const lineOf = (offset: number) => source.slice(0, offset).split('\n').length;
  const edges: ImportEdge[] = [];
  const computed: ParsedFile['computed'] = [];
  const add = (specifier: string, kind: ImportKind, offset: number) => {
    if (!specifier.startsWith('.')) return;
    const to = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
    edges.push({ from: file, to, kind, line: lineOf(offset) });
  };
  const mod = result.module;
  for (const imp of mod.staticImports) {
    const typeOnly = imp.entries.length > 0 && imp.entries.every((e) => e.isType);
    add(imp.moduleRequest.value, typeOnly ? 'type' : 'import', imp.start);
  }
  for (const exp of mod.staticExports) {
    for (const entry of exp.entries) if (entry.moduleRequest) add(entry.moduleRequest.value, entry.isType ? 'type' : 'export', exp.start);
  }
  for (const dyn of mod.dynamicImports) {
    const text = source.slice(dyn.moduleRequest.start, dyn.moduleRequest.end);
    const value = literalValue(text);
    if (value === null) computed.push({ from: file, line: lineOf(dyn.start), text });
    else add(value, 'dynamic', dyn.start);
  }
  // TypeScript import types (`typeof import('../x.ts').T`) are dependencies too; they are in the AST only.
  for (const t of importTypes(result.program)) add(t.source, 'type', t.start);
  return { edges, computed };
}

/** The `import('...')` type nodes anywhere in an oxc (ESTree) program. */
function importTypes(node: unknown, found: { source: string; start: number }[] = []): { source: string; start: number }[] {
  if (Array.isArray(node)) {
    for (const n of node) importTypes(n, found);
  } else if (node && typeof node === 'object') {
    const n = node as { type?: string; source?: { value?: unknown }; start?: number };
    if (n.type === 'TSImportType' && typeof n.source?.value === 'string') found.push({ source: n.source.value, start: n.start ?? 0 });
    for (const [key, value] of Object.entries(node)) if (key !== 'parent' && value && typeof value === 'object') importTypes(value, found);
  }
  return found;
}

/** The import edges of every source file under `dirs` of `root`. */
export function readImportGraph(root: string, dirs: readonly string[] = LAYERED_DIRS): ParsedFile {
  const all: ParsedFile = { edges: [], computed: [] };
  for (const dir of dirs) {
    for (const file of listSources(root, dir)) {
      const parsed = parseImports(file, readFileSync(path.join(root, file), 'utf8'));
      all.edges.push(...parsed.edges);
      all.computed.push(...parsed.computed);
    }
  }
  return all;
}

const top = (file: string) => file.split('/')[0];
/** `training/data/held-out.ts` -> `eval`; files directly in training/ are package `.`. */
const trainingPackage = (file: string) => (file.split('/').length > 2 ? file.split('/')[1] : '.');
const show = (e: ImportEdge) => `${e.from}:${e.line} -> ${e.to}${e.kind === 'import' ? '' : ` (${e.kind})`}`;

/** Who may import whom, by top-level folder (anything outside LAYERED_DIRS is not constrained here). */
const FORBIDDEN: Record<string, string[]> = {
  src: ['training', 'device', 'cli', 'dashboard'],
  device: ['training', 'cli', 'dashboard'],
  training: ['cli', 'device', 'dashboard'],
};

/** The one file that runs a whole training: only the CLI starts it. */
export const TRAIN_ENTRY = 'training/trainer/train.ts';

/** Strongly connected components of more than one node (or a node importing itself): the cycles. */
export function findCycles(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)?.has(v)) cycles.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

function graphOf(edges: ImportEdge[], node: (file: string) => string | null): Map<string, Set<string>> {
  const g = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = node(e.from);
    const b = node(e.to);
    if (a === null || b === null || a === b) continue;
    if (!g.has(a)) g.set(a, new Set());
    g.get(a)!.add(b);
  }
  return g;
}

/** Each violation as one line naming the file, the line and the rule. Empty: the layering holds. */
export function checkLayering(edges: ImportEdge[]): string[] {
  const problems: string[] = [];
  for (const e of edges) {
    const forbidden = FORBIDDEN[top(e.from)];
    if (forbidden?.includes(top(e.to))) problems.push(`${show(e)}: ${top(e.from)}/ must not import ${top(e.to)}/`);
    if (e.to === TRAIN_ENTRY && top(e.from) !== 'cli') problems.push(`${show(e)}: only the CLI starts a training run (${TRAIN_ENTRY})`);
  }
  const training = edges.filter((e) => top(e.from) === 'training' && top(e.to) === 'training');
  const packages = graphOf(training, trainingPackage);
  for (const cycle of findCycles(packages)) {
    const inCycle = new Set(cycle);
    const examples = training.filter((e) => inCycle.has(trainingPackage(e.from)) && inCycle.has(trainingPackage(e.to)) && trainingPackage(e.from) !== trainingPackage(e.to));
    problems.push(`training/ packages import each other: ${cycle.join(' <-> ')} (${examples.map(show).join('; ')})`);
  }
  // Files in one cycle cannot be read, tested or loaded one without the other. Type-only imports
  // are left out here: a context object and the features it holds name each other's types
  // (device/context.ts), and nothing of that runs.
  const runtime = edges.filter((e) => e.kind !== 'type');
  for (const cycle of findCycles(graphOf(runtime, (f) => f))) {
    const inCycle = new Set(cycle);
    const examples = runtime.filter((e) => inCycle.has(e.from) && inCycle.has(e.to));
    problems.push(`import cycle between files: ${cycle.join(' <-> ')} (${examples.map(show).join('; ')})`);
  }
  return problems;
}
