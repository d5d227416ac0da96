import * as tf from '@tensorflow/tfjs';
await tf.setBackend('cpu');
const { summarizeArchitectures } = await import('../arch/index.ts');
for (const s of summarizeArchitectures()) console.log(s.name, s.parameters, s.macs, s.embeddingSize);
