import { join } from 'node:path';
import { UserError } from '../src/errors.ts';

/**
 * The page's JavaScript and CSS, bundled from dashboard/app in memory when the server starts
 * (~0.3 s), so a clone needs no build step and nothing generated is committed. esbuild and uPlot are
 * dev dependencies: workstations and hubs that serve the dashboard install them with `npm install`;
 * boards (`npm ci --omit=dev`) run only the agent and never load this.
 */
export interface DashboardBundle {
  /** Output files by name: app.js, app.css and chunk-*.js (dynamic imports). */
  files: Map<string, Buffer>;
}

export async function buildDashboardBundle(): Promise<DashboardBundle> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new UserError('dashboard: esbuild is not installed (a dev dependency): run `npm install` (without --omit=dev) where the dashboard is served');
  }
  const outdir = join(import.meta.dirname, 'out');
  try {
    const result = await esbuild.build({
      entryPoints: { app: join(import.meta.dirname, 'app', 'main.ts') },
      bundle: true,
      format: 'esm',
      // "Try the model" imports onnxruntime-web and the preprocessing dynamically: a separate chunk,
      // loaded only when someone tries an image.
      splitting: true,
      platform: 'browser',
      target: ['chrome100', 'firefox100', 'safari15'],
      minify: true,
      sourcemap: false,
      write: false,
      outdir,
      logLevel: 'silent',
      legalComments: 'none',
    });
    return { files: new Map(result.outputFiles.map((f) => [f.path.slice(outdir.length + 1), Buffer.from(f.contents)])) };
  } catch (err) {
    const first = (err as { errors?: { text: string }[] }).errors?.[0]?.text ?? (err as Error).message;
    if (/uplot/i.test(first)) throw new UserError('dashboard: uPlot is not installed (a dev dependency): run `npm install` (without --omit=dev) where the dashboard is served');
    throw new Error(`dashboard: bundling dashboard/app failed: ${first}`);
  }
}
