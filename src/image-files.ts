import { extname } from 'node:path';

/**
 * File name extensions of the images edgeloom reads from disk: training's `folder:` data and the
 * agent's `dir:` source accept the same list, so a photo that trains also runs on the device and
 * the other way round. Only formats the bundled sharp (libvips) decodes: no .bmp, which it cannot
 * read (convert those to PNG first).
 */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'] as const;

const EXTENSIONS: ReadonlySet<string> = new Set(IMAGE_EXTENSIONS);

/** True for a name with one of IMAGE_EXTENSIONS (any case) that is not hidden (`.DS_Store`, `._x.jpg`). */
export function isImageFileName(name: string): boolean {
  return !name.startsWith('.') && EXTENSIONS.has(extname(name).toLowerCase());
}

