import { UserError } from '../errors.ts';

/**
 * Loads a training/ module for a command. training/ is TypeScript with workstation-only packages
 * (TensorFlow.js, the data sets): under `npm run build` (dist/, plain JavaScript) it is not bundled,
 * so this starts tsx's loader first; on a board install (`npm run install-board`) neither tsx nor
 * TensorFlow.js is there, and the command says how to get them instead of a module-not-found trace.
 */
const FULL_INSTALL = 'this command needs the training packages, which a board install leaves out: run `npm ci` in the edgeloom checkout for the full install';

let loader: Promise<void> | null = null;

function startTypeScriptLoader(): Promise<void> {
  // Run from the sources, tsx is already the loader (bin/edgeloom.js registered it).
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  loader ??= import('tsx/esm/api').then(
    ({ register }) => void register(),
    () => {
      loader = null;
      throw new UserError(FULL_INSTALL);
    },
  );
  return loader;
}

/** True for a missing workstation-only package (not for a missing file of ours, which is a bug to show). */
function isMissingTrainingPackage(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && /'(@tensorflow\/[^']+|fashion-mnist|mnist|tsx)'/.test(e.message);
}

export async function loadTraining<T>(load: () => Promise<T>): Promise<T> {
  await startTypeScriptLoader();
  try {
    return await load();
  } catch (err) {
    if (isMissingTrainingPackage(err)) throw new UserError(FULL_INSTALL);
    throw err;
  }
}
