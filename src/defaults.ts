/**
 * Defaults stated by more than one layer: the training commands (training/), the CLI that documents
 * them (cli/: bundled for boards without training/, so they cannot live in training/), the agent
 * (device/) and the dashboard. Each has this one home; everything else imports it.
 */

/** The shipped model, relative to the working directory (agent, demo, collect; the dashboard resolves it in the checkout). */
export const DEFAULT_MODEL_PATH = 'models/default.onnx';

/**
 * Seed of a training run (initialisation, --limit subset, validation split, shuffling,
 * augmentation, a folder's or CSV's hold-out split), and the seed assumed for a model whose recipe
 * names none.
 */
export const DEFAULT_SEED = 42;

/** `edgeloom quantize`, and the model.int8.onnx of a training run. */
export const QUANTIZE_DEFAULTS = {
  /** cpu: uint8 activations for onnxruntime's integer kernels; tensorrt: symmetric int8. */
  target: 'cpu',
  method: 'percentile',
  /** Percentile of |x| kept by the percentile calibration. */
  percentile: 99.999,
  perChannel: true,
  reduceRange: false,
  /** Training images calibrated on (a stratified sample) and the seed of that sample. */
  calibrationSize: 512,
  calibrationSeed: 1,
  /** Test images of `edgeloom quantize`'s quick fp32-vs-int8 check. */
  checkSize: 1000,
} as const;
