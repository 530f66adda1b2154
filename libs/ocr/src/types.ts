/**
 * Plain data passed between the OCR steps. Every shape here is numbers, arrays and typed
 * arrays only, so each step can run in its own process and its input/output can travel
 * over NATS (see `wire.ts` for the JSON forms).
 */

/** A decoded image: 8-bit RGBA, row-major, `data.length === width * height * 4`. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A dense float32 tensor, row-major, e.g. NCHW `[1, 3, 640, 960]`. */
export interface FloatTensor {
  dims: number[];
  data: Float32Array;
}

export type Point = [x: number, y: number];

/** Four corners: top-left, top-right, bottom-right, bottom-left. */
export type Quad = [Point, Point, Point, Point];

/**
 * How the original image was placed into the detector's input: scaled by
 * `resizedWidth / originalWidth` (and the same vertically) and pasted at
 * (`offsetX`, `offsetY`) on a `inputWidth` × `inputHeight` canvas whose sides are
 * multiples of the detector's stride. Needed to map boxes back to the original image.
 */
export interface DetectionGeometry {
  originalWidth: number;
  originalHeight: number;
  resizedWidth: number;
  resizedHeight: number;
  inputWidth: number;
  inputHeight: number;
  offsetX: number;
  offsetY: number;
  /** resizedWidth / originalWidth */
  ratioX: number;
  /** resizedHeight / originalHeight */
  ratioY: number;
}

/** Output of image preprocessing: the detector's input tensor and how it was made. */
export interface DetectionInput {
  /** float32 `[1, 3, inputHeight, inputWidth]`, channels in the order the model expects. */
  tensor: FloatTensor;
  geometry: DetectionGeometry;
}

/** The detector's per-pixel text probability (0..1), `inputWidth` × `inputHeight`. */
export interface ProbabilityMap {
  width: number;
  height: number;
  data: Float32Array;
}

/** One text region found by box extraction, in original image pixels. */
export interface TextBox {
  quad: Quad;
  /** Mean probability inside the (not yet unclipped) box, as PaddleOCR's `box_score_fast`. */
  score: number;
}

export type TextDirection = 0 | 180;

/** The direction classifier's decision for one crop. */
export interface DirectionDecision {
  /** 180 when the crop is upside down and the classifier is sure enough (above its threshold). */
  angle: TextDirection;
  /** Probability of the predicted label (which may be 180 even when `angle` stays 0). */
  score: number;
}

/** Text read from one crop. */
export interface RecognisedText {
  text: string;
  /** Mean probability of the kept CTC characters; 0 when nothing was read. */
  confidence: number;
}

/** A crop's box together with what was read in it. */
export interface OcrRegion extends RecognisedText {
  quad: Quad;
}

/** One line of output: regions whose midlines align, joined left to right with a space. */
export interface OcrLine extends RecognisedText {
  quad: Quad;
}

export interface OcrResult {
  lines: OcrLine[];
  /** Every recognised region before the confidence filter and line assembly, top to bottom. */
  regions: OcrRegion[];
  width: number;
  height: number;
}
