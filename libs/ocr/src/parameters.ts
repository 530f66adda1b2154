/**
 * Parameters of every step, defaulting to what the reference library (@gutenye/ocr-node
 * 1.4.8, in node_modules/@gutenye/ocr-common/src) does, so this pipeline reads what it
 * reads. Where the reference has no such step (direction classification, box scores) the
 * defaults are PaddleOCR's. `docs/ocr.md` lists each value with its origin.
 */

/** Channel order of the tensors: the Paddle models were trained on OpenCV's BGR images. */
export type ChannelOrder = 'bgr' | 'rgb';

/** `(pixel / 255 - mean[c]) / std[c]`, with `mean`/`std` in the tensor's channel order. */
export interface Normalisation {
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: ChannelOrder;
}

export interface DetectionInputOptions {
  /** Input sides are rounded up to a multiple of this (the detector's total stride). */
  stride: number;
  /** Longest side limit before rounding; the reference sets none (its `maxSize` is unused). */
  maxSideLength?: number;
  /** Colour of the letterbox around the resized image: sharp's `contain` default, opaque black. */
  padding: [r: number, g: number, b: number];
  normalisation: Normalisation;
}

export interface BoxExtractionOptions {
  /** Pixels with probability above this are text (the reference's 0.03; PaddleOCR uses 0.3). */
  binaryThreshold: number;
  /** Drop boxes whose mean probability is below this. The reference keeps all (0); PaddleOCR uses 0.6. */
  minBoxScore: number;
  /** Drop contours whose min-area rectangle's short side is below this (map pixels). */
  minSide: number;
  /** Same, after unclipping: the reference uses `minSide + 2`. */
  minSideAfterUnclip: number;
  /** Grow each box by `area * ratio / perimeter` (DB's unclip). */
  unclipRatio: number;
  /** Drop boxes whose width or height (original pixels) is not above this. */
  minRectSide: number;
  /** Contours kept at most (PaddleOCR's `max_candidates`); the reference has no limit. */
  maxCandidates: number;
}

export interface CropOptions {
  /** A crop at least this many times taller than wide is turned 90° (text set vertically). */
  tallRatio: number;
}

export interface DirectionOptions {
  /** Classifier input: the crop is resized to this height, its width capped at `width`, then padded. */
  height: number;
  width: number;
  /** Rotate only when the classifier says 180° with at least this probability. */
  threshold: number;
  /** Crops per onnxruntime run. */
  batchSize: number;
  normalisation: Normalisation;
}

export interface RecognitionOptions {
  /** The recogniser's fixed input height. */
  height: number;
  /**
   * Crops per onnxruntime run. 1 reproduces the reference exactly (it runs each crop alone);
   * larger batches pad crops of similar width to the widest of their batch.
   */
  batchSize: number;
  normalisation: Normalisation;
}

export interface LineAssemblyOptions {
  /** Regions read with a lower confidence are dropped before lines are assembled. */
  minConfidence: number;
}

export const DEFAULT_DETECTION_INPUT: DetectionInputOptions = {
  stride: 32,
  maxSideLength: undefined,
  padding: [0, 0, 0],
  // The reference leaves mean/std out ("more accurate", its comment says): pixels / 255.
  normalisation: { mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'bgr' },
};

export const DEFAULT_BOX_EXTRACTION: BoxExtractionOptions = {
  binaryThreshold: 0.03,
  minBoxScore: 0,
  minSide: 3,
  minSideAfterUnclip: 5,
  unclipRatio: 1.5,
  minRectSide: 3,
  maxCandidates: Number.POSITIVE_INFINITY,
};

export const DEFAULT_CROP: CropOptions = { tallRatio: 1.5 };

/** PaddleOCR's `cls_image_shape` 3,48,192, `cls_thresh` 0.9, `cls_batch_num` 6 and its normalisation. */
export const DEFAULT_DIRECTION: DirectionOptions = {
  height: 48,
  width: 192,
  threshold: 0.9,
  batchSize: 6,
  normalisation: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channelOrder: 'bgr' },
};

export const DEFAULT_RECOGNITION: RecognitionOptions = {
  height: 48,
  batchSize: 1,
  normalisation: { mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'bgr' },
};

export const DEFAULT_LINE_ASSEMBLY: LineAssemblyOptions = { minConfidence: 0.5 };
