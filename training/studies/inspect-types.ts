/**
 * Conv layers shown at most: resnet18 has 20, the most of edgeloom's architectures; a foreign graph
 * with hundreds must not write hundreds of PNGs (the first ones, nearest the input, are shown).
 */
export const MAX_CONV_LAYERS = 64;

/** What `edgeloom inspect` reads out of a model for one image, whatever the model's format. */
export interface FirstLayerFilters {
  layer: string;
  height: number;
  width: number;
  /** Filters the layer has; `planes` holds the first --max-channels of them. */
  total: number;
  planes: Float32Array[];
}

export interface FeatureMaps {
  layer: string;
  height: number;
  width: number;
  channels: number;
  /** The first --max-channels channels, each height*width. */
  planes: Float32Array[];
}

export interface InsideView {
  logits: Float32Array;
  filters: FirstLayerFilters | null;
  maps: FeatureMaps[];
  /** |gradient of the predicted logit| per input pixel (784); null where not available (ONNX). */
  saliency: Float32Array | null;
  /** What could not be shown, and why (one line each). */
  notes: string[];
}
