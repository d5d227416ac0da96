import { join } from 'node:path';
import type { Logger } from '../src/log.ts';
import type { ModelRunResult } from '../src/onnx/session.ts';
import { stat } from 'node:fs/promises';
import { UserError } from '../src/errors.ts';
import { loadTrustedKeys } from '../src/signing.ts';
import type { AgentConfig } from './config.ts';
import { loadModel, sessionFor, type LoadedModel, type LoadModelOptions } from './model.ts';
import { ModelStore } from './model-store.ts';

/**
 * The model currently serving. Switching loads and validates the new model first; only then is it
 * swapped in, and the old session is closed once its in-flight runs finish. On failure the old
 * model keeps serving and the error goes back to the caller.
 */
export class ModelHolder {
  private inflight = new Map<LoadedModel, number>();
  private retired = new Set<LoadedModel>();

  constructor(private model: LoadedModel, private readonly opts: LoadModelOptions, readonly store: ModelStore, private readonly log: Logger) {}

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

  /** Switches to model `name` of the model store (a file name, never a path); see ModelStore.resolve. */
  async switchTo(name: unknown, expectSha256?: string): Promise<LoadedModel> {
    const file = await this.store.readNamed(name, expectSha256);
    const store = { kind: 'store', name: String(name) } as const;
    return this.swapIn(await sessionFor(file, store, join(this.store.opts.dir, store.name), this.opts));
  }

  /** Reads the serving model again the way it was first read (store name or start-up path). */
  async reload(expectSha256?: string): Promise<LoadedModel> {
    const { origin, path } = this.model;
    const file = origin.kind === 'store' ? await this.store.readNamed(origin.name, expectSha256) : await this.store.readStartup(origin.path, expectSha256);
    return this.swapIn(await sessionFor(file, origin, path, this.opts));
  }

  private async swapIn(next: LoadedModel): Promise<LoadedModel> {
    const old = this.model;
    this.model = next;
    this.log.info(`model switched: ${old.ref.id} -> ${next.ref.id} (${next.path}${next.signedBy ? `, signed by ${next.signedBy}` : ''})`);
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

/** The start-up model (size-capped, signature-checked with trusted keys) and the store commands use. */
export async function openModel(config: AgentConfig, log: Logger): Promise<ModelHolder> {
  const trustedKeys = await loadTrustedKeys(config.models.trustedKeys);
  const dir = config.models.dir!;
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new UserError(`models.dir ${dir}: not a directory (set models.dir or --models-dir to the directory switch-model may load from)`);
  const opts: LoadModelOptions = { ep: config.ep, threads: config.threads, maxBytes: config.models.maxBytes, trustedKeys };
  const loaded = await loadModel(config.model, opts);
  const signed = loaded.signedBy ? `, signed by ${loaded.signedBy}` : trustedKeys.length === 0 ? ', signatures not required' : '';
  log.info(`model ${loaded.ref.id} (${loaded.metadata.classes.length} classes) on ${loaded.provider}${signed}; switch-model loads from ${dir}`);
  const store = new ModelStore({ dir, maxBytes: config.models.maxBytes, trustedKeys });
  return new ModelHolder(loaded, opts, store, log);
}
