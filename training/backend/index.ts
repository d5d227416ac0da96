import * as tf from '@tensorflow/tfjs';
import { firstLine, UserError } from '../../src/errors.ts';

export type BackendName = 'auto' | 'node' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'node', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The back end that actually runs: node, wasm or cpu. */
  name: Exclude<BackendName, 'auto'>;
  /** Why it was chosen (shown in logs and reports). */
  reason: string;
}

/** The package that brings native libtensorflow; optional, its install downloads libtensorflow. */
export const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';
const NODE_INSTALL_HINT = `--backend node needs ${TFJS_NODE_PACKAGE}: run "npm install ${TFJS_NODE_PACKAGE}" (downloads libtensorflow; needs internet) or use --backend auto`;

/** tfjs registers the native back end under this name. */
const TFJS_NODE_BACKEND = 'tensorflow';

let selected: BackendInfo | null = null;

/** Checks a --backend value. */
export function parseBackendName(value: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendName;
  throw new UserError(`--backend: unknown back end "${value}" (expected ${BACKEND_NAMES.join(', ')})`);
}

/**
 * Tries to load @tensorflow/tfjs-node. It is not a dependency, so the specifier is kept out of the
 * type checker's sight; any failure (missing package, missing libtensorflow) means "not available".
 */
async function loadTfjsNode(): Promise<string | null> {
  const specifier: string = TFJS_NODE_PACKAGE;
  try {
    await import(specifier);
  } catch (err) {
    return firstLine(err);
  }
  return tf.findBackendFactory(TFJS_NODE_BACKEND) ? null : 'package loaded but registered no back end';
}

async function activate(name: string): Promise<boolean> {
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/**
 * Chooses the TensorFlow.js back end. `auto` prefers @tensorflow/tfjs-node (native libtensorflow)
 * when installed, then wasm (with edgeloom's training kernels), then the pure-JS cpu back end.
 * Asking for a back end that cannot start throws a UserError.
 */
export async function selectBackend(requested: BackendName = 'auto'): Promise<BackendInfo> {
  let info: BackendInfo;
  if (requested === 'node' || requested === 'auto') {
    const problem = await loadTfjsNode();
    if (problem === null && (await activate(TFJS_NODE_BACKEND))) {
      selected = { name: 'node', reason: requested === 'node' ? 'requested' : `${TFJS_NODE_PACKAGE} is installed` };
      return selected;
    }
    if (requested === 'node') throw new UserError(NODE_INSTALL_HINT);
  }
  if (requested === 'wasm' || requested === 'auto') {
    const { prepareWasm } = await import('./wasm.ts');
    const problem = await prepareWasm().then(() => null, (err: Error) => err.message);
    if (problem === null && (await activate('wasm'))) {
      info = { name: 'wasm', reason: requested === 'wasm' ? 'requested' : `${TFJS_NODE_PACKAGE} not installed` };
      selected = info;
      return info;
    }
    if (requested === 'wasm') throw new UserError(`--backend wasm: the WebAssembly back end did not start (${problem ?? 'tf.setBackend failed'})`);
  }
  if (!(await activate('cpu'))) throw new Error('the tfjs cpu back end did not start');
  info = { name: 'cpu', reason: requested === 'cpu' ? 'requested' : `neither ${TFJS_NODE_PACKAGE} nor wasm available` };
  selected = info;
  return info;
}

/** The back end chosen by the last selectBackend call, or null before any. */
export function selectedBackend(): BackendInfo | null {
  return selected;
}

/** One line for logs and training reports, e.g. "wasm (SIMD, 1 thread; tfjs 4.22.0; ...)". */
export async function backendDescription(): Promise<string> {
  const running = tf.getBackend();
  const why = selected ? `, ${selected.reason}` : '';
  if (running === 'wasm') {
    const { describeWasm } = await import('./wasm.ts');
    return `wasm (${await describeWasm()}; tfjs ${tf.version.tfjs}${why})`;
  }
  if (running === TFJS_NODE_BACKEND) return `node (native libtensorflow via ${TFJS_NODE_PACKAGE}; tfjs ${tf.version.tfjs}${why})`;
  return `${running} (pure JavaScript; tfjs ${tf.version.tfjs}${why})`;
}

export { tf };
