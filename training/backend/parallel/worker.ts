import { parentPort, workerData } from 'node:worker_threads';
import { getArchitecture } from '../../arch/index.ts';
import { selectBackend, tf, type BackendName } from '../index.ts';
import { halfBatchGradients, type GradientRequest, type ReplicaOptions } from './shared.ts';

/** A model replica on its own thread: receives weights and a slice of the batch, returns gradients. */
const options = workerData as ReplicaOptions;
await selectBackend(options.backend as BackendName);
const model = getArchitecture(options.arch).build({ seed: options.seed, numClasses: options.numClasses, ...options.settings });

parentPort?.on('message', (request: GradientRequest) => {
  try {
    tf.tidy(() => model.setWeights(model.getWeights().map((w, i) => tf.tensor(request.weights[i], w.shape))));
    const result = halfBatchGradients(model, request.xs, request.ys, request.count, options.labelSmoothing);
    parentPort?.postMessage(result, result.grads.map((g) => g.buffer as ArrayBuffer));
  } catch (err) {
    parentPort?.postMessage({ error: (err as Error).message });
  }
});
parentPort?.postMessage({ ready: true });
