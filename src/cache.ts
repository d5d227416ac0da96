import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where converted data sets live: $EDGELOOM_CACHE, else $XDG_CACHE_HOME/edgeloom, else ~/.cache/edgeloom. */
export function cacheRoot(): string {
  if (process.env.EDGELOOM_CACHE) return process.env.EDGELOOM_CACHE;
  const xdg = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(xdg, 'edgeloom');
}

/** The Fashion-MNIST IDX files, as training (training/data/) and the agent's `fashion-mnist:test` source read them. */
export function fashionMnistCacheDir(): string {
  return join(cacheRoot(), 'fashion-mnist-v1');
}
