// Worker threads do not inherit the tsx loader that runs the main thread's TypeScript, so the
// worker registers it before loading its TypeScript entry point.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
