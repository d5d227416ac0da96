import type * as tf from '@tensorflow/tfjs';

/** Training recipe an architecture's source used (or that works well for it here). */
export interface Recipe {
  optimizer: 'sgd' | 'adam' | 'adagrad';
  lr: number;
  momentum?: number;
  batchSize: number;
  epochs: number;
  schedule?: 'constant' | 'step' | 'cosine' | 'one-cycle';
  weightDecay?: number;
  augment?: string;
}

/**
 * Settings an architecture may accept beyond its fixed shape (`edgeloom search` tunes them, a
 * recipe file carries them). Each architecture lists the ones it accepts in `settings`; unset
 * values keep the source's choice.
 */
export interface ArchSettings {
  /** Activation of the hidden layers (ReLU in every source). */
  activation?: 'relu' | 'tanh';
  /** Units of the hidden Dense layer(s). */
  width?: number;
  /** Dropout rate after the convolutions. */
  dropout?: number;
}

export const ARCH_SETTING_NAMES = ['activation', 'width', 'dropout'] as const satisfies readonly (keyof ArchSettings)[];
export const ACTIVATIONS = ['relu', 'tanh'] as const;

export interface BuildOptions extends ArchSettings {
  /** Seeds the kernel initialisers so that a run with the same seed starts from the same weights. */
  seed?: number;
  numClasses?: number;
}

/**
 * One registered architecture. Every model takes [N,28,28,1] pixel/255 and ends in a Dense layer
 * named `logits` (no softmax: losses work from logits); the layer named `embedding` outputs the
 * penultimate features. The ONNX exporter depends on these two names.
 */
export interface Architecture {
  name: string;
  description: string;
  source: string;
  /** countParams() of the built model, pinned by a test. */
  expectedParams: number;
  /** Reported test accuracy in the source, as text (e.g. "91.81% (92.12% with augmentation)"). */
  reportedAccuracy: string;
  recipe: Recipe;
  /** The ArchSettings `build` honours (absent: none). */
  settings?: readonly (keyof ArchSettings)[];
  build(opts?: BuildOptions): tf.LayersModel;
}
