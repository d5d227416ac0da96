import type { Logger } from '../src/log.ts';
import type { ModelRunResult } from '../src/onnx/session.ts';
import { loadModel, type LoadedModel, type LoadModelOptions } from './model.ts';

/**
 * The model currently serving. Switching loads and validates the new model first; only then is it
 * swapped in, and the old session is closed once its in-flight runs finish. On failure the old
 * model keeps serving and the error goes back to the caller.
 */
export class ModelHolder {
  private inflight = new Map<LoadedModel, number>();
  private retired = new Set<LoadedModel>();

  constructor(private model: LoadedModel, private readonly opts: LoadModelOptions, private readonly log: Logger) {}

  get current(): LoadedModel {
    return this.model;
  }

  async run(input: Float32Array, batch: number): Promise<{ model: LoadedModel; out: ModelRunResult }> {
    const model = this.model;
    this.inflight.set(model, (this.inflight.get(model) ?? 0) + 1);
    try {
      return { model, out: await model.session.run(input, batch) };
    } finally {
      const left = (this.inflight.get(model) ?? 1) - 1;
      this.inflight.set(model, left);
      if (left === 0 && this.retired.has(model)) await this.release(model);
    }
  }

  async switchTo(path: string): Promise<LoadedModel> {
    const next = await loadModel(path, this.opts);
    const old = this.model;
    this.model = next;
    this.log.info(`model switched: ${old.ref.id} -> ${next.ref.id} (${path})`);
    if ((this.inflight.get(old) ?? 0) === 0) await this.release(old);
    else this.retired.add(old);
    return next;
  }

  private async release(model: LoadedModel): Promise<void> {
    this.retired.delete(model);
    this.inflight.delete(model);
    await model.session.close();
  }

  async close(): Promise<void> {
    await this.model.session.close();
  }
}
