import * as ort from 'onnxruntime-node';

/**
 * The one module that imports onnxruntime-node. Runs models that follow the edgeloom model contract:
 * input `input` float32 [N,1,28,28], outputs `logits` [N,10] and `embedding` [N,D].
 * TODO(device helper): execution-provider selection (--ep), threads.
 */
export interface ModelRunResult {
  logits: Float32Array;
  embedding: Float32Array | null;
  embeddingSize: number;
}

export interface OnnxModelSession {
  readonly provider: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** `input` holds batch*784 values in 0..1. */
  run(input: Float32Array, batch: number): Promise<ModelRunResult>;
  close(): Promise<void>;
}

export interface SessionOptions {
  intraOpThreads?: number;
  /** Write the optimized graph here (to check which kernels onnxruntime fused). */
  optimizedModelFilePath?: string;
}

export async function createOnnxSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<OnnxModelSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.intraOpThreads ?? 0,
    graphOptimizationLevel: 'all',
    ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
  };
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model, sessionOptions)
    : await ort.InferenceSession.create(model, sessionOptions);
  return {
    provider: 'cpu',
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(input, batch) {
      const feeds = { input: new ort.Tensor('float32', input, [batch, 1, 28, 28]) };
      const out = await session.run(feeds);
      const logits = out.logits.data as Float32Array;
      const emb = out.embedding;
      return {
        logits,
        embedding: emb ? (emb.data as Float32Array) : null,
        embeddingSize: emb ? Number(emb.dims[1]) : 0,
      };
    },
    close: () => session.release(),
  };
}
