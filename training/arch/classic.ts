import { NUM_CLASSES } from '../../src/classes.ts';
import { LayerKit, finish } from './layers.ts';
import type { Architecture } from './types.ts';

/** Plain (non-residual) architectures from the Fashion-MNIST literature. */

export const mlp: Architecture = {
  name: 'mlp',
  description: 'Multilayer perceptron: Flatten 784 -> Dense 100 ReLU -> Dense 100 ReLU (embedding) -> Dense 10',
  source: 'S. Safaei, "Fashion-MNIST classification" report (MLP baseline, softmax output; here the softmax lives in the loss)',
  expectedParams: 89_610,
  reportedAccuracy: '85.99% (89% tuned)',
  recipe: { optimizer: 'sgd', lr: 0.05, momentum: 0.9, batchSize: 64, epochs: 20, schedule: 'constant' },
  settings: ['activation', 'width'],
  build({ seed = 1, numClasses = NUM_CLASSES, activation = 'relu', width = 100 } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.flatten(input);
    x = k.dense(x, width, { activation });
    x = k.dense(x, width, { activation, name: 'embedding' });
    return finish('mlp', input, k.logits(x, numClasses));
  },
};

export const cnn: Architecture = {
  name: 'cnn',
  description: 'Conv 32 3x3 same ReLU -> MaxPool 2 -> Dropout 0.25 -> Flatten 6272 -> Dense 100 ReLU (embedding) -> Dense 10',
  source: 'S. Safaei, "Fashion-MNIST classification" report, model cnn_1',
  expectedParams: 628_630,
  reportedAccuracy: '91.81% (92.12% with augmentation)',
  recipe: { optimizer: 'adam', lr: 0.001, batchSize: 64, epochs: 15, schedule: 'constant' },
  settings: ['activation', 'width', 'dropout'],
  build({ seed = 1, numClasses = NUM_CLASSES, activation = 'relu', width = 100, dropout = 0.25 } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.conv(input, 32, 3, { activation });
    x = k.maxPool(x);
    x = k.dropout(x, dropout);
    x = k.flatten(x);
    x = k.dense(x, width, { activation, name: 'embedding' });
    return finish('cnn', input, k.logits(x, numClasses));
  },
};

export const customnet: Architecture = {
  name: 'customnet',
  description: '3x3 conv-BN-ReLU blocks of 32/64/128 filters, max-pool after the first two, Dropout 0.5, Flatten 6272 (embedding) -> Dense 10',
  source: 'L. Leopardi, CustomNet for Fashion-MNIST',
  expectedParams: 156_074,
  reportedAccuracy: 'not pinned here (see the source)',
  recipe: { optimizer: 'adam', lr: 0.001, batchSize: 64, epochs: 15, schedule: 'cosine' },
  build({ seed = 1, numClasses = NUM_CLASSES } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.maxPool(k.convBnRelu(input, 32));
    x = k.maxPool(k.convBnRelu(x, 64));
    x = k.convBnRelu(x, 128);
    x = k.flatten(x, 'embedding');
    x = k.dropout(x, 0.5);
    return finish('customnet', input, k.logits(x, numClasses));
  },
};

export const lenet5: Architecture = {
  name: 'lenet5',
  description: 'LeNet-5: Conv 6 5x5 same -> AvgPool -> Conv 16 5x5 valid -> AvgPool -> Flatten 400 -> Dense 120 -> Dense 84 (embedding) -> Dense 10, ReLU',
  source: 'M. Kayed, A. Anter, H. Mohamed, "Classification of Garments from Fashion MNIST Dataset Using CNN LeNet-5 Architecture", ITCE 2020 (after LeCun et al. 1998)',
  expectedParams: 61_706,
  reportedAccuracy: '98.8% (as reported by Kayed et al.; typical LeNet-5 test accuracy on Fashion-MNIST is ~90%)',
  recipe: { optimizer: 'adam', lr: 0.001, batchSize: 64, epochs: 15, schedule: 'constant' },
  build({ seed = 1, numClasses = NUM_CLASSES } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.avgPool(k.conv(input, 6, 5, { activation: 'relu' }));
    x = k.avgPool(k.conv(x, 16, 5, { padding: 'valid', activation: 'relu' }));
    x = k.flatten(x);
    x = k.dense(x, 120, { activation: 'relu' });
    x = k.dense(x, 84, { activation: 'relu', name: 'embedding' });
    return finish('lenet5', input, k.logits(x, numClasses));
  },
};

export const lenet5Bn: Architecture = {
  name: 'lenet5-bn',
  description: 'Five 3x3 conv-ReLU layers (32,32 | 64,64 | 128) with BatchNorm, max-pool and dropout after each stage, then Dense 256 -> Dense 128 (embedding) -> Dense 10',
  source: 'Le Glouanec, LeNet-5 variant with batch normalisation and dropout for Fashion-MNIST',
  expectedParams: 469_098,
  reportedAccuracy: '92.37%',
  recipe: { optimizer: 'adam', lr: 0.001, batchSize: 128, epochs: 10, schedule: 'constant' },
  build({ seed = 1, numClasses = NUM_CLASSES } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.conv(input, 32, 3, { activation: 'relu' });
    x = k.conv(x, 32, 3, { activation: 'relu' });
    x = k.dropout(k.maxPool(k.bn(x)), 0.25);
    x = k.conv(x, 64, 3, { activation: 'relu' });
    x = k.conv(x, 64, 3, { activation: 'relu' });
    x = k.dropout(k.maxPool(k.bn(x)), 0.25);
    x = k.conv(x, 128, 3, { activation: 'relu' });
    x = k.dropout(k.maxPool(k.bn(x)), 0.25);
    x = k.flatten(x);
    x = k.dropout(k.dense(x, 256, { activation: 'relu' }), 0.4);
    x = k.dense(x, 128, { activation: 'relu', name: 'embedding' });
    return finish('lenet5-bn', input, k.logits(x, numClasses));
  },
};
