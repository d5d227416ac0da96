import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';

/**
 * tfjs without tfjs-node has no file:// loader: this IOHandler reads model.json and its weight
 * shards from a directory, so the same code works on every back end.
 */
export function fileSystemHandler(dir: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = join(dir, 'model.json');
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new UserError(`${jsonPath}: ${code === 'ENOENT' ? 'not found (expected a tfjs model directory with model.json)' : `cannot read (${(err as Error).message})`}`);
      }
      if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new UserError(`${jsonPath}: not a tfjs layers model (modelTopology/weightsManifest missing)`);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          try {
            buffers.push(await readFile(join(dir, p)));
          } catch {
            throw new UserError(`${join(dir, p)}: weight file listed in model.json not found`);
          }
        }
      }
      const total = buffers.reduce((s, b) => s + b.length, 0);
      const weightData = new Uint8Array(total);
      let off = 0;
      for (const b of buffers) {
        weightData.set(b, off);
        off += b.length;
      }
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy };
    },
  };
}

export async function loadTfjsModelDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileSystemHandler(dir));
}
