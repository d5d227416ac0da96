import * as ort from 'onnxruntime-node';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.ts';
import { createLogger } from '../log.ts';

/**
 * The one module that imports onnxruntime-node. Runs models that follow the edgeloom model contract:
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
  close(): Promise<void>;
}

export const EXECUTION_PROVIDERS = ['auto', 'tensorrt', 'cuda', 'coreml', 'dml', 'webgpu', 'qnn', 'cpu'] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDERS)[number];

/** `auto` tries these in order, keeping only the ones this onnxruntime-node build lists. */
export const AUTO_PROVIDER_ORDER: readonly ExecutionProviderChoice[] = ['tensorrt', 'cuda', 'coreml', 'dml', 'qnn', 'cpu'];

export interface SessionOptions {
  /** Intra-op threads; 0 or undefined lets onnxruntime decide. */
  intraOpThreads?: number;
  /** Execution provider; default `cpu`. */
  ep?: ExecutionProviderChoice;
  /** Write the optimized graph here (to check which kernels onnxruntime fused). */
  optimizedModelFilePath?: string;
}

/** Names of the backends this onnxruntime-node build was compiled with. */
export function availableProviders(): string[] {
  return ort.listSupportedBackends().map((b) => b.name);
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
  if (choice === 'cpu') return ['cpu'];
  if (choice === 'auto') {
    const list = AUTO_PROVIDER_ORDER.filter((p) => p === 'cpu' || (available.includes(p) && installed(p)));
    return [...new Set(list)];
  }
  return [choice, 'cpu'];
}

const log = createLogger('onnx');

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

function bindingFiles(): string[] {
  try {
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
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
  const files = choice === 'auto' ? bindingFiles() : [];
  const candidates = providerCandidates(choice, availableProviders(), (p) => providerInstalled(p, files));
  let session: ort.InferenceSession | null = null;
  let provider = 'cpu';
  const failures: string[] = [];
  for (const candidate of candidates) {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [candidate],
      intraOpNumThreads: opts.intraOpThreads ?? 0,
      graphOptimizationLevel: 'all',
      // A provider that cannot load is expected (the fallback handles it): keep its native error quiet.
      ...(candidate === 'cpu' ? {} : { logSeverityLevel: 4 as const }),
      ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
    };
    try {
      session = typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(model, sessionOptions);
      provider = candidate;
      break;
    } catch (err) {
      // A model that cpu cannot load is the model's fault, not the provider's: report it as is.
      if (candidate === 'cpu') throw err;
      failures.push(`${candidate}: ${firstLine((err as Error).message)}`);
    }
  }
  if (!session) throw new Error('onnxruntime: no execution provider could load the model');
  if (failures.length > 0 && choice !== 'auto') {
    log.warn(`execution provider ${choice} unavailable (${failures.join('; ')}); falling back to cpu`);
  } else if (choice === 'auto') {
    const tried = failures.length > 0 ? `; unusable here: ${failures.map((f) => f.split(':')[0]).join(', ')}, falling back to cpu` : '';
    log.info(`execution provider: ${provider} (auto${tried})`);
  }
  const live = session;
  return {
    provider,
    inputNames: live.inputNames,
    outputNames: live.outputNames,
    async run(input, batch) {
      const feeds = { input: new ort.Tensor('float32', input, [batch, 1, 28, 28]) };
      const out = await live.run(feeds);
      const logits = out.logits.data as Float32Array;
      const emb = out.embedding;
      return {
        logits,
        embedding: emb ? (emb.data as Float32Array) : null,
        embeddingSize: emb ? Number(emb.dims[1]) : 0,
      };
    },
    close: () => live.release(),
  };
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 200);
}
