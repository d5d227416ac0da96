import { UserError } from '../src/errors.ts';

/**
 * Loads a module of training/ or dashboard/ for a command. Both are TypeScript that needs
 * workstation-only packages (TensorFlow.js and the data sets; esbuild's bundling and uPlot for the
 * dashboard page): `npm run build` (dist/, plain JavaScript) leaves them out, so from dist/ this
 * starts tsx's loader first; on a board install (`npm run install-board`) there is no tsx, and the
 * command says how to get the full install instead of a module-not-found trace.
 */
const TRAINING = 'this command needs the training packages, which a board install leaves out: run `npm ci` in the edgeloom checkout for the full install';
const DASHBOARD = 'dashboard: it is built from its TypeScript sources with development packages, which a board install leaves out: run `npm ci` in the edgeloom checkout, or serve the dashboard ' +
  'from a workstation';

let loader: Promise<void> | null = null;

function startTypeScriptLoader(missing: string): Promise<void> {
  // Run from the sources, tsx is already the loader (bin/edgeloom.js registered it).
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  loader ??= import('tsx/esm/api').then(
    ({ register }) => void register(),
    () => {
      loader = null;
      throw new UserError(missing);
    },
  );
  return loader;
}

/** True for a missing workstation-only package (not for a missing file of ours, which is a bug to show). */
function isMissingWorkstationPackage(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && /'(@tensorflow\/[^']+|fashion-mnist|mnist|tsx|uplot)'/.test(e.message);
}

async function loadFromSources<T>(load: () => Promise<T>, missing: string): Promise<T> {
  await startTypeScriptLoader(missing);
  try {
    return await load();
  } catch (err) {
    if (isMissingWorkstationPackage(err)) throw new UserError(missing);
    throw err;
  }
}

export function loadTraining<T>(load: () => Promise<T>): Promise<T> {
  return loadFromSources(load, TRAINING);
}

export function loadDashboard<T>(load: () => Promise<T>): Promise<T> {
  return loadFromSources(load, DASHBOARD);
}
