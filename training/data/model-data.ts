import { UserError } from '../../src/errors.ts';
import type { SplitDataset } from './dataset.ts';
import { DEFAULT_SEED } from '../../src/defaults.ts';

/**
 * Which data a trained model is scored, calibrated or profiled on: `--data` when given, else the
 * data its recipe was trained on (ONNX metadata `edgeloom.recipe`, or the run's report.json), else
 * Fashion-MNIST (foreign models without a recipe). The recipe's seed also fixes the hold-out split
 * of a folder without a test/ folder, so `evaluate` sees the very test images `train` reported on.
 */
export interface ModelDataSpec {
  data: string;
  seed: number;
  /** Where the choice came from, for messages: `--data`, `the model's recipe` or `default`. */
  from: '--data' | 'recipe' | 'default';
}

export function modelDataSpec(recipe: Record<string, unknown> | undefined, override?: string): ModelDataSpec {
  const seed = typeof recipe?.seed === 'number' ? recipe.seed : DEFAULT_SEED;
  if (override) return { data: override, seed, from: '--data' };
  if (typeof recipe?.data === 'string' && recipe.data) return { data: recipe.data, seed, from: 'recipe' };
  return { data: 'fashion-mnist', seed, from: 'default' };
}

/**
 * Refuses data whose classes are not the model's, by count or by name in output order: the scores
 * would compare unrelated labels (or crash on a 5-output model fed 10 labels).
 */
export function checkModelClasses(origin: string, modelClasses: readonly string[], spec: Pick<ModelDataSpec, 'data' | 'from'>, dataClasses: readonly string[]): void {
  if (modelClasses.length === dataClasses.length && modelClasses.every((c, i) => c === dataClasses[i])) return;
  throw new UserError(`${origin}: the model's ${modelClasses.length} classes (${modelClasses.join(', ')}) are not the ${dataClasses.length} classes of ` +
    `${spec.data}${spec.from === 'recipe' ? ' (its recipe\'s data)' : ''} (${dataClasses.join(', ')}); pass the data the model was trained on with --data SPEC`);
}

/** The model's data set (see modelDataSpec), checked against its class list. */
export async function loadModelData(origin: string, model: { classNames: readonly string[]; recipe?: Record<string, unknown> }, override?: string,
  onProgress?: (m: string) => void): Promise<{ ds: SplitDataset; spec: ModelDataSpec }> {
  const spec = modelDataSpec(model.recipe, override);
  const { loadDataset } = await import('./load.ts');
  const ds = await loadDataset({ data: spec.data, seed: spec.seed, onProgress });
  checkModelClasses(origin, model.classNames, spec, ds.train.classNames);
  return { ds, spec };
}
