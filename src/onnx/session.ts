import { IMAGE_SIZE } from '../classes.ts';
import type * as OrtNode from 'onnxruntime-node';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { firstLine, UserError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { AUTO_PROVIDER_ORDER, EXECUTION_PROVIDERS, type ExecutionProviderChoice } from './providers.ts';

/**
 * The one module that imports onnxruntime: onnxruntime-node (native, every provider but wasm) or
 * onnxruntime-web (WebAssembly, for `wasm` and for boards onnxruntime-node has no binary for, such as
 * 32-bit ARM). Both are imported lazily, only when a session needs them, so a process that never
 * runs a model loads neither. Runs models that follow the edgeloom model contract:
 * input `input` float32 [N,1,28,28], outputs `logits` [N,10] and `embedding` [N,D].
 */
export interface ModelRunResult {
  logits: Float32Array;
  embedding: Float32Array | null;
  embeddingSize: number;
}

export interface OnnxModelSession {
  /** The execution provider actually in use (after `auto` resolution and any fallback). */
  readonly provider: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** `input` holds batch*784 values in 0..1. */
  run(input: Float32Array, batch: number): Promise<ModelRunResult>;
  /**
   * The float outputs named in `names` (each must be a graph output), for tools that look inside a
   * model: `edgeloom inspect` adds the tensors it wants as extra outputs and fetches only those.
   */
  runOutputs(input: Float32Array, batch: number, names: readonly string[]): Promise<Record<string, NamedTensor>>;
  close(): Promise<void>;
}

export interface NamedTensor {
  data: Float32Array;
  dims: number[];
}

export interface SessionOptions {
  /** Intra-op threads; 0 or undefined lets onnxruntime decide. For wasm, the first session fixes it for the process. */
  intraOpThreads?: number;
  /** Execution provider; default `cpu`. */
  ep?: ExecutionProviderChoice;
  /** Write the optimized graph here (to check which kernels onnxruntime fused; onnxruntime-node only). */
  optimizedModelFilePath?: string;
  /** Overrides SESSION_DEFAULTS (the memory bench compares them; the agent keeps the defaults). */
  tuning?: SessionTuning;
}

export interface SessionTuning {
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  executionMode?: 'sequential' | 'parallel';
  /** 0 lets onnxruntime decide. */
  interOpNumThreads?: number;
}

/**
 * Session settings for a small resident footprint (docs/benchmarks.md "Agent memory"). For
 * models/default.onnx at batch 1, onnxruntime's own defaults, arena off, patterns off and both off all
 * measured 34-40 MiB for runtime + session and the same latency (within the noise of a loaded
 * machine). Both stay off because the arena and the patterns keep their high-water mark for the
 * life of the session (a batch run, a bigger model) while saving only an allocation per intermediate
 * tensor of a few KiB; one inter-op thread because the graph is a chain.
 */
export const SESSION_DEFAULTS = {
  enableCpuMemArena: false,
  enableMemPattern: false,
  executionMode: 'sequential',
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
} as const satisfies OrtNode.InferenceSession.SessionOptions;

/**
 * V8 compiles all of onnxruntime-web's 14 MB WebAssembly module with its baseline compiler, then
 * re-compiles every function that runs a little (dynamic tiering) with its optimizing compiler,
 * whose scratch memory stays in malloc arenas: 295 MiB RSS after 1,500 batch-1 runs of
 * models/default.onnx (x64, Node 20) against 143 MiB with this budget, which lets only the kernels'
 * hot loops tier up (p50 0.69 ms in both; `--liftoff-only`: 127 MiB but 3.4 ms). Checked on Node 20's
 * V8; a V8 without the flag prints one `unrecognized flag` line and runs as before.
 */
const WASM_TIERING_FLAG = '--wasm-tiering-budget=100000000';

/** The onnxruntime-common API both runtimes implement (onnxruntime-web's types are a copy of it). */
type Runtime = Pick<typeof OrtNode, 'InferenceSession' | 'Tensor'>;

const log = createLogger('onnx');

let nodeRuntime: Promise<typeof OrtNode> | null = null;
let webRuntime: Promise<Runtime> | null = null;
let webThreads = 0;

/** onnxruntime-node, loaded once; rejects where its native binding cannot load (no binary for this platform, missing library). */
function loadNodeRuntime(): Promise<typeof OrtNode> {
  nodeRuntime ??= import('onnxruntime-node').catch((err: unknown) => {
    nodeRuntime = null;
    throw err;
  });
  return nodeRuntime;
}

/** onnxruntime-web's WebAssembly back end (SIMD; threads via worker_threads when threads > 1), loaded once. */
function loadWebRuntime(threads: number): Promise<Runtime> {
  if (webRuntime) {
    if (threads > 0 && threads !== webThreads) log.debug(`wasm runtime already started with ${webThreads || 'default'} threads; ignoring ${threads}`);
    return webRuntime;
  }
  webThreads = threads;
  setFlagsFromString(WASM_TIERING_FLAG);
  webRuntime = import('onnxruntime-web').then((ort) => {
    if (threads > 0) ort.env.wasm.numThreads = threads;
    // The .wasm file ships inside the package (dist/): never fetched from anywhere else.
    ort.env.wasm.wasmPaths = `${dirname(createRequire(import.meta.url).resolve('onnxruntime-web'))}/`;
    return ort as unknown as Runtime;
  });
  return webRuntime;
}

/** Names of the backends this onnxruntime-node build was compiled with (empty when it cannot load). */
export async function availableProviders(): Promise<string[]> {
  try {
    return (await loadNodeRuntime()).listSupportedBackends().map((b) => b.name);
  } catch {
    return [];
  }
}

/**
 * Candidate providers for a choice, in the order to try. Pure so tests can pin it: explicit
 * choices are tried then fall back to cpu; auto keeps the preferred order, filtered by availability.
 * (webgpu is left out of auto: in Node it needs a GPU adapter and is slower than cpu for a 28x28 CNN.)
 */
export function providerCandidates(
  choice: ExecutionProviderChoice,
  available: readonly string[],
  installed: (provider: string) => boolean = () => true,
): string[] {
  if (choice === 'cpu' || choice === 'wasm') return [choice];
  if (choice === 'auto') {
    const list = AUTO_PROVIDER_ORDER.filter((p) => p === 'cpu' || (available.includes(p) && installed(p)));
    return [...new Set(list)];
  }
  return [choice, 'cpu'];
}

/** Shared libraries a provider needs beside the binding; the npm build lists cuda/tensorrt without shipping them. */
const PROVIDER_LIBRARIES: Record<string, string[]> = {
  cuda: ['libonnxruntime_providers_cuda.so', 'onnxruntime_providers_cuda.dll'],
  tensorrt: ['libonnxruntime_providers_tensorrt.so', 'onnxruntime_providers_tensorrt.dll'],
};

/**
 * Whether a provider's add-on library is installed beside onnxruntime-node's binding. `auto` skips
 * providers that are not, so a CPU-only install does not print native load errors on every start.
 */
export function providerInstalled(provider: string, bindingFiles: readonly string[]): boolean {
  const libs = PROVIDER_LIBRARIES[provider];
  return !libs || libs.some((lib) => bindingFiles.includes(lib));
}

/** The files beside onnxruntime-node's native binding for a platform (empty where it has none). */
export function bindingFiles(platform: string = process.platform, arch: string = process.arch): string[] {
  try {
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', platform, arch);
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export async function createOnnxSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<OnnxModelSession> {
  const choice = opts.ep ?? 'cpu';
  if (!EXECUTION_PROVIDERS.includes(choice)) {
    throw new UserError(`--ep: expected one of ${EXECUTION_PROVIDERS.join('|')}, got "${String(choice)}"`);
  }
  if (choice === 'wasm') return createWebSession(model, opts);
  let ort: typeof OrtNode;
  try {
    ort = await loadNodeRuntime();
  } catch (err) {
    const why = `onnxruntime-node cannot load on ${process.platform}/${process.arch} (${shortReason(err)})`;
    if (choice !== 'auto') throw new UserError(`--ep ${choice}: ${why}; use --ep wasm (or auto)`);
    log.info(`execution provider: wasm (auto; ${why})`);
    return createWebSession(model, opts);
  }
  return createNodeSession(ort, model, choice, opts);
}

async function createNodeSession(ort: typeof OrtNode, model: string | Uint8Array, choice: ExecutionProviderChoice, opts: SessionOptions): Promise<OnnxModelSession> {
  const files = choice === 'auto' ? bindingFiles() : [];
  const available = ort.listSupportedBackends().map((b) => b.name);
  const candidates = providerCandidates(choice, available, (p) => providerInstalled(p, files));
  let session: OrtNode.InferenceSession | null = null;
  let provider = 'cpu';
  const failures: string[] = [];
  for (const candidate of candidates) {
    const sessionOptions: OrtNode.InferenceSession.SessionOptions = {
      ...SESSION_DEFAULTS,
      ...opts.tuning,
      executionProviders: [candidate],
      intraOpNumThreads: opts.intraOpThreads ?? 0,
      // A provider that cannot load is expected (the fallback handles it): keep its native error quiet.
      ...(candidate === 'cpu' ? {} : { logSeverityLevel: 4 as const }),
      ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
    };
    try {
      session = await openSession(ort, model, sessionOptions);
      provider = candidate;
      break;
    } catch (err) {
      // A model that cpu cannot load is the model's fault, not the provider's: report it as is.
      if (candidate === 'cpu') throw err;
      failures.push(`${candidate}: ${shortReason(err)}`);
    }
  }
  if (!session) throw new Error('onnxruntime: no execution provider could load the model');
  const report = providerReport(choice, provider, failures);
  if (report) log[report.level](report.text);
  return wrapSession(ort, session, provider);
}

/**
 * The line a session logs about its provider (pure, so tests can pin it): `auto` says what it chose
 * and which installed providers failed; an explicit choice warns when it fell back to cpu and is
 * otherwise quiet. `failures` are `<provider>: <reason>`.
 */
export function providerReport(choice: ExecutionProviderChoice, provider: string, failures: readonly string[]): { level: 'info' | 'warn'; text: string } | null {
  if (choice === 'auto') {
    const tried = failures.length > 0 ? `; unusable here: ${failures.map((f) => f.split(':')[0]).join(', ')}, falling back to cpu` : '';
    return { level: 'info', text: `execution provider: ${provider} (auto${tried})` };
  }
  if (failures.length > 0) return { level: 'warn', text: `execution provider ${choice} unavailable (${failures.join('; ')}); falling back to cpu` };
  return null;
}

/** Both runtimes read a model path themselves (onnxruntime-web with node:fs when it runs in Node); their typings take a path or bytes, not the union. */
function openSession(ort: Runtime, model: string | Uint8Array, options: OrtNode.InferenceSession.SessionOptions): Promise<OrtNode.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

async function createWebSession(model: string | Uint8Array, opts: SessionOptions): Promise<OnnxModelSession> {
  let ort: Runtime;
  try {
    ort = await loadWebRuntime(opts.intraOpThreads ?? 0);
  } catch (err) {
    webRuntime = null;
    throw new UserError(`--ep wasm: onnxruntime-web cannot load (${shortReason(err)}); install it with npm run install-board or npm ci`);
  }
  const sessionOptions = { ...SESSION_DEFAULTS, ...opts.tuning, executionProviders: ['wasm'] };
  const session = await openSession(ort, model, sessionOptions);
  return wrapSession(ort, session, 'wasm');
}

function wrapSession(ort: Runtime, live: OrtNode.InferenceSession, provider: string): OnnxModelSession {
  return {
    provider,
    inputNames: live.inputNames,
    outputNames: live.outputNames,
    async run(input, batch) {
      const feeds = { input: new ort.Tensor('float32', input, [batch, 1, IMAGE_SIZE, IMAGE_SIZE]) };
      const out = await live.run(feeds);
      const logits = out.logits.data as Float32Array;
      const emb = out.embedding;
      return {
        logits,
        embedding: emb ? (emb.data as Float32Array) : null,
        embeddingSize: emb ? Number(emb.dims[1]) : 0,
      };
    },
    async runOutputs(input, batch, names) {
      const feeds = { input: new ort.Tensor('float32', input, [batch, 1, 28, 28]) };
      const out = await live.run(feeds, [...names]);
      const result: Record<string, NamedTensor> = {};
      for (const name of names) {
        const t = out[name];
        if (!t || t.type !== 'float32') throw new Error(`onnxruntime: output ${name} is not a float tensor`);
        result[name] = { data: t.data as Float32Array, dims: t.dims.map(Number) };
      }
      return result;
    },
    close: () => live.release(),
  };
}

/** onnxruntime's reasons can run to kilobytes (a whole provider search path): the first line, at most 200 characters. */
export function shortReason(err: unknown): string {
  return firstLine(err).slice(0, 200);
}

/** A float32 tensor crossing into or out of a general graph session. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

export interface GraphSessionOptions {
  /** Intra-op threads; 0 or undefined lets onnxruntime decide. */
  intraOpThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** The arena and memory patterns pay off for graphs with large intermediates run many times (a training step). */
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  /** Write onnxruntime's per-node profile to `${profileFilePrefix}_<date>.json`; endProfiling() returns nothing, so the caller looks for the file. */
  profileFilePrefix?: string;
  /** Write the optimized graph here. */
  optimizedModelFilePath?: string;
}

/** A session for graphs outside the model contract (e.g. a training step): named float feeds in, every output out. */
export interface GraphSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Readonly<Record<string, FloatTensor>>): Promise<Record<string, FloatTensor>>;
  /** Flushes the profile file when profiling is on. */
  endProfiling(): void;
  close(): Promise<void>;
}

/**
 * Opens a graph of float32 inputs and outputs on onnxruntime-node's cpu provider. Training graphs
 * allocate the same large intermediates every run, so the arena and memory patterns default to on
 * here, unlike the agent's sessions (SESSION_DEFAULTS).
 */
export async function createGraphSession(model: Uint8Array, opts: GraphSessionOptions = {}): Promise<GraphSession> {
  const ort = await loadNodeRuntime();
  const sessionOptions: OrtNode.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    executionMode: 'sequential',
    interOpNumThreads: 1,
    intraOpNumThreads: opts.intraOpThreads ?? 0,
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    enableCpuMemArena: opts.enableCpuMemArena ?? true,
    enableMemPattern: opts.enableMemPattern ?? true,
    ...(opts.profileFilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profileFilePrefix } : {}),
    ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
  };
  const live = await ort.InferenceSession.create(model, sessionOptions);
  return {
    inputNames: live.inputNames,
    outputNames: live.outputNames,
    async run(feeds) {
      const tensors: Record<string, OrtNode.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor('float32', t.data, t.dims);
      const out = await live.run(tensors);
      const result: Record<string, FloatTensor> = {};
      for (const [name, t] of Object.entries(out)) result[name] = { data: t.data as Float32Array, dims: t.dims };
      return result;
    },
    endProfiling: () => live.endProfiling(),
    close: () => live.release(),
  };
}
