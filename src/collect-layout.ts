/**
 * Where collected photos wait for a label: `DIR/unlabelled/`. `edgeloom label` moves each photo into
 * `DIR/<class>/`, the layout `train --data folder:DIR` reads, which therefore skips this folder.
 */
export const UNLABELLED_DIR = 'unlabelled';
