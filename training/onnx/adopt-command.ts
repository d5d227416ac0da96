import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { AdoptionInfo } from '../../src/onnx/metadata.ts';
import { adoptModel, describeAdoption, type AdoptOptions } from './adopt.ts';

export interface AdoptCommandOptions extends AdoptOptions {
  model: string;
  out: string;
}

export interface AdoptCommandResult {
  out: string;
  adopted: AdoptionInfo;
  numClasses: number;
  classes: string[];
  driftProfile: boolean;
  bytes: number;
}

/**
 * `edgeloom adopt`: writes a foreign classifier rewired to the edgeloom contract, with metadata and,
 * when it has an embedding, a drift reference profile, so the agent runs it like an exported model.
 */
export async function runAdopt(opts: AdoptCommandOptions): Promise<AdoptCommandResult> {
  const log = createLogger('adopt');
  if (!existsSync(opts.model)) throw new UserError(`--model ${opts.model}: not found`);
  if (opts.out === opts.model) throw new UserError(`--out ${opts.out}: must differ from --model (the original stays as it is)`);
  const r = adoptModel(await readFile(opts.model), opts.model, opts);
  log.info(`${opts.model}: ${describeAdoption(r.info)}`);
  const { profileOrStrip, writeProfiledModel } = await import('../drift/profile-model.ts');
  const profiled = r.info.embedding ? await profileOrStrip(r.bytes, opts.out) : { bytes: r.bytes, profile: null };
  if (!r.info.embedding) log.warn(`${opts.out}: no embedding, so no drift profile; the agent needs one: name the penultimate tensor with --embedding TENSOR`);
  await writeProfiledModel(opts.out, profiled.bytes, profiled.profile);
  const { parseModelMetadata } = await import('../../src/onnx/metadata.ts');
  return { out: opts.out, adopted: r.info, numClasses: r.numClasses, classes: parseModelMetadata(profiled.bytes)?.classes ?? [], driftProfile: profiled.profile !== null,
    bytes: profiled.bytes.length };
}
