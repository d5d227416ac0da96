import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { cnn, customnet, lenet5, lenet5Bn, mlp } from './classic.ts';
import { bhatnagar, edgenet, resnet18 } from './residual.ts';
import { countMacs } from './macs.ts';
import type { Architecture } from './types.ts';

export type { ArchSettings, Architecture, BuildOptions, Recipe } from './types.ts';
export { ACTIVATIONS, ARCH_SETTING_NAMES } from './types.ts';
export { countMacs, layerMacs } from './macs.ts';

/** Every architecture `edgeloom train --arch NAME` accepts, keyed by name. */
export const ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.freeze(
  Object.fromEntries([mlp, cnn, customnet, lenet5, lenet5Bn, bhatnagar, resnet18, edgenet].map((a) => [a.name, a])),
);

export function getArchitecture(name: string): Architecture {
  const arch = ARCHITECTURES[name];
  if (!arch) throw new UserError(`--arch: unknown architecture "${name}" (expected one of ${Object.keys(ARCHITECTURES).join(', ')})`);
  return arch;
}

/** Names of the two model outputs the model contract (and the ONNX exporter) rely on. */
export const LOGITS_LAYER = 'logits';
export const EMBEDDING_LAYER = 'embedding';

/**
 * The same weights seen as a two-output model [logits, embedding], e.g. for ONNX export or for
 * embedding plots. Works for any model built here or loaded from a saved model dir.
 */
export function withEmbedding(model: tf.LayersModel): tf.LayersModel {
  const logits = model.getLayer(LOGITS_LAYER).output as tf.SymbolicTensor;
  const embedding = model.getLayer(EMBEDDING_LAYER).output as tf.SymbolicTensor;
  return tf.model({ inputs: model.inputs, outputs: [logits, embedding], name: `${model.name}_with_embedding` });
}

export interface ArchitectureSummary {
  name: string;
  description: string;
  source: string;
  parameters: number;
  macs: number;
  embeddingSize: number;
  reportedAccuracy: string;
  recipe: Architecture['recipe'];
}

/** Builds each architecture once to measure it (cheap: no training, weights disposed). */
export function summarizeArchitectures(): ArchitectureSummary[] {
  return Object.values(ARCHITECTURES).map((a) => {
    const model = a.build();
    try {
      const emb = model.getLayer(EMBEDDING_LAYER).outputShape as number[];
      return {
        name: a.name,
        description: a.description,
        source: a.source,
        parameters: model.countParams(),
        macs: countMacs(model),
        embeddingSize: emb[emb.length - 1],
        reportedAccuracy: a.reportedAccuracy,
        recipe: a.recipe,
      };
    } finally {
      model.dispose();
    }
  });
}
