import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { tf } from '../index.ts';
import { halfBatchGradients, type GradientRequest, type GradientResult, type ReplicaOptions } from './shared.ts';

export type { ReplicaOptions } from './shared.ts';

/** What optimizer.applyGradients accepts (tfjs does not export the type by name). */
export interface NamedGradient {
  name: string;
  tensor: tf.Tensor;
}

type Reply = GradientResult | { error: string } | { ready: true };

/**
 * Data-parallel gradients over worker_threads, for back ends that use one core (wasm, cpu): each
 * step the batch is split between the main thread and `workers` replicas; each computes the mean
 * loss gradient on its part from the main model's current weights, and the results are averaged
 * (weighted by part size) into one gradient for optimizer.applyGradients.
 *
 * Batch norm sees each part's statistics (like unsynchronised multi-GPU training), and only the
 * main thread's forward pass updates the moving averages; dropout masks differ per thread.
 */
export class DataParallelGradients {
  private pending = new Map<Worker, (reply: Reply) => void>();

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly options: ReplicaOptions,
    private readonly workers: Worker[],
  ) {
    for (const worker of workers) {
      worker.on('message', (reply: Reply) => {
        const resolve = this.pending.get(worker);
        this.pending.delete(worker);
        resolve?.(reply);
      });
      worker.on('error', (err) => {
        const resolve = this.pending.get(worker);
        this.pending.delete(worker);
        resolve?.({ error: err.message });
      });
    }
  }

  /** Starts `workers` replicas (default: one per extra core) of `options.arch` for `model`. */
  static async start(model: tf.LayersModel, options: Omit<ReplicaOptions, 'backend'>, workers = availableParallelism() - 1): Promise<DataParallelGradients> {
    const full: ReplicaOptions = { ...options, backend: tf.getBackend() === 'tensorflow' ? 'node' : tf.getBackend() };
    const started = Array.from({ length: Math.max(0, workers) }, () => new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: full }));
    const parallel = new DataParallelGradients(model, full, started);
    const replies = await Promise.all(started.map((w) => parallel.reply(w)));
    const failed = replies.find((r): r is { error: string } => 'error' in r);
    if (failed) {
      await parallel.close();
      throw new Error(`gradient worker did not start: ${failed.error}`);
    }
    return parallel;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private reply(worker: Worker): Promise<Reply> {
    return new Promise((resolve) => this.pending.set(worker, resolve));
  }

  /**
   * Mean loss and gradients over `count` samples (xs: count*784 floats, ys: count*numClasses),
   * named by the main model's variables, ready for optimizer.applyGradients. The caller disposes
   * the gradient tensors.
   */
  async computeGradients(xs: Float32Array, ys: Float32Array, count: number): Promise<{ loss: number; grads: NamedGradient[] }> {
    const parts = Math.min(this.threads, count);
    const pixels = xs.length / count;
    const classes = ys.length / count;
    const weights = this.model.getWeights().map((w) => w.dataSync() as Float32Array);
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * count) / parts));
    const replies = this.workers.slice(0, parts - 1).map((worker, i) => {
      const [from, to] = [bounds[i + 1], bounds[i + 2]];
      const request: GradientRequest = { weights, xs: xs.slice(from * pixels, to * pixels), ys: ys.slice(from * classes, to * classes), count: to - from };
      const promise = this.reply(worker);
      worker.postMessage(request);
      return promise;
    });
    const own = halfBatchGradients(this.model, xs.subarray(0, bounds[1] * pixels), ys.subarray(0, bounds[1] * classes), bounds[1], this.options.labelSmoothing);
    const results: GradientResult[] = [own];
    for (const reply of await Promise.all(replies)) {
      if ('error' in reply) throw new Error(`gradient worker failed: ${reply.error}`);
      if ('grads' in reply) results.push(reply);
    }
    const variables = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const grads = variables.map((v, i): NamedGradient => {
      const sum = new Float32Array(results[0].grads[i].length);
      for (const r of results) {
        const share = r.count / count;
        const g = r.grads[i];
        for (let j = 0; j < sum.length; j++) sum[j] += g[j] * share;
      }
      return { name: v.name, tensor: tf.tensor(sum, v.shape) };
    });
    const loss = results.reduce((s, r) => s + (r.loss * r.count) / count, 0);
    return { loss, grads };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
