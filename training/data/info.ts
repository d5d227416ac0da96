import { IMAGE_SIZE } from '../../src/classes.ts';
import { classCounts } from './dataset.ts';
import { describeDataSpec, loadDataset, type DataOptions } from './load.ts';
import { fashionMnistCacheDir } from '../../src/cache.ts';
import { createLogger } from '../../src/log.ts';

export interface DataInfo {
  source: string;
  spec: string;
  train: number;
  test: number;
  classNames: string[];
  perClass: { train: number[]; test: number[] };
  imageSize: [number, number];
  cacheDir: string | null;
}

export async function dataInfo(opts: DataOptions): Promise<DataInfo> {
  const log = createLogger('data');
  const spec = describeDataSpec(opts);
  const ds = await loadDataset({ ...opts, onProgress: (m) => log.info(m) });
  return {
    source: ds.source,
    spec,
    train: ds.train.count,
    test: ds.test.count,
    classNames: [...ds.train.classNames],
    perClass: { train: classCounts(ds.train), test: classCounts(ds.test) },
    imageSize: [IMAGE_SIZE, IMAGE_SIZE],
    cacheDir: spec === 'fashion-mnist' ? fashionMnistCacheDir() : null,
  };
}

export function formatDataInfo(info: DataInfo): string {
  const width = Math.max(...info.classNames.map((n) => n.length));
  const lines = [
    `source: ${info.source}`,
    `train: ${info.train} images, test: ${info.test} images (${info.imageSize.join('x')} grayscale)`,
    ...(info.cacheDir ? [`cache: ${info.cacheDir}`] : []),
    '',
    `${'id'.padStart(2)}  ${'class'.padEnd(width)}  ${'train'.padStart(6)}  ${'test'.padStart(6)}`,
    ...info.classNames.map((n, i) => `${String(i).padStart(2)}  ${n.padEnd(width)}  ${String(info.perClass.train[i]).padStart(6)}  ${String(info.perClass.test[i]).padStart(6)}`),
  ];
  return lines.join('\n');
}
