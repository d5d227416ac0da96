import { NUM_CLASSES } from '../../src/classes.ts';
import { LayerKit, finish } from './layers.ts';
import type { Architecture } from './types.ts';

/** Architectures with residual (skip) connections. */

export const bhatnagar: Architecture = {
  name: 'bhatnagar',
  description: 'Two 3x3 conv layers (32 filters) with BatchNorm and a residual skip around the second, max-pool, Dense 128 (embedding), Dropout 0.3, Dense 10',
  source: 'S. Bhatnagar, D. Ghosal, M. H. Kolekar, "Classification of fashion article images using convolutional neural networks", ICIIP 2017',
  expectedParams: 211_882,
  reportedAccuracy: '92.54%',
  recipe: { optimizer: 'adam', lr: 0.001, batchSize: 64, epochs: 15, schedule: 'constant' },
  build({ seed = 1, numClasses = NUM_CLASSES } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    const a = k.maxPool(k.convBnRelu(input, 32)); // 14x14x32
    const b = k.bn(k.conv(a, 32, 3, { useBias: false }));
    let x = k.maxPool(k.relu(k.add(a, b))); // 7x7x32
    x = k.flatten(x);
    x = k.dense(x, 128, { activation: 'relu', name: 'embedding' });
    x = k.dropout(x, 0.3);
    return finish('bhatnagar', input, k.logits(x, numClasses));
  },
};

export const resnet18: Architecture = {
  name: 'resnet18',
  description: 'ResNet-18 for 1x28x28: 3x3 stem (64), no initial max-pool, four stages of two basic blocks (64/128/256/512, strides 1/2/2/2), global average pooling (embedding, 512), Dense 10',
  source: 'K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 (CIFAR-style stem)',
  expectedParams: 11_182_410,
  reportedAccuracy: '~94-95% from scratch on Fashion-MNIST (commonly reported)',
  recipe: { optimizer: 'sgd', lr: 0.1, momentum: 0.9, batchSize: 128, epochs: 30, schedule: 'cosine', weightDecay: 5e-4, augment: 'flip' },
  build({ seed = 1, numClasses = NUM_CLASSES } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.convBnRelu(input, 64);
    const stages: Array<[number, number]> = [[64, 1], [128, 2], [256, 2], [512, 2]];
    for (const [filters, stride] of stages) {
      x = k.basicBlock(x, filters, stride);
      x = k.basicBlock(x, filters, 1);
    }
    x = k.gap(x, 'embedding');
    return finish('resnet18', input, k.logits(x, numClasses));
  },
};

export const edgenet: Architecture = {
  name: 'edgenet',
  description: 'edgeloom edge design: conv-BN-ReLU stem (32) + max-pool, residual blocks 32@14x14, 64@7x7 (x2), 3x3 conv to 128, global average pooling (embedding, 128), Dropout 0.2, Dense 10; ' +
    'int8-friendly ops only',
  source: 'edgeloom (this project); see docs/architectures.md',
  expectedParams: 226_986,
  reportedAccuracy: 'target >= 94.5% (30 epochs, one-cycle, safaei+flip+erase augmentation)',
  recipe: { optimizer: 'sgd', lr: 0.1, momentum: 0.9, batchSize: 128, epochs: 30, schedule: 'one-cycle', weightDecay: 5e-4, augment: 'flip,erase' },
  build({ seed = 1, numClasses = NUM_CLASSES } = {}) {
    const k = new LayerKit(seed);
    const input = k.input();
    let x = k.maxPool(k.convBnRelu(input, 32)); // 14x14x32
    x = k.basicBlock(x, 32, 1); // 14x14x32
    x = k.basicBlock(x, 64, 2); // 7x7x64
    x = k.basicBlock(x, 64, 1);
    x = k.convBnRelu(x, 128); // 7x7x128
    x = k.gap(x, 'embedding');
    x = k.dropout(x, 0.2);
    return finish('edgenet', input, k.logits(x, numClasses));
  },
};
