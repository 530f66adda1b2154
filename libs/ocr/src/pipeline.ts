import { extractTextBoxes } from './boxes';
import { cropTextBoxes } from './crop';
import { detectText, prepareDetectionInput } from './detection';
import { applyDirections, classifyDirections } from './direction';
import { decodeImage } from './image';
import { assembleLines } from './lines';
import type { OcrModels } from './models';
import type {
  BoxExtractionOptions,
  CropOptions,
  DetectionInputOptions,
  DirectionOptions,
  LineAssemblyOptions,
  RecognitionOptions,
} from './parameters';
import { recogniseCrops } from './recognition';
import type { OcrResult, RgbaImage } from './types';

export interface RecogniseOptions {
  detectionInput?: Partial<DetectionInputOptions>;
  boxes?: Partial<BoxExtractionOptions>;
  crop?: Partial<CropOptions>;
  /** Classify and fix upside-down crops; needs `models.direction`. Off by default, as the reference. */
  classifyDirection?: boolean;
  direction?: Partial<DirectionOptions>;
  recognition?: Partial<RecognitionOptions>;
  lines?: Partial<LineAssemblyOptions>;
  /** Called after each step with its wall time, e.g. for benchmarks or spans. */
  onStep?: (step: OcrStep, milliseconds: number) => void;
}

/** The steps, in order; each can run as its own service. */
export type OcrStep =
  'decode' | 'detection-input' | 'detection' | 'boxes' | 'crop' | 'direction' | 'recognition' | 'lines';

/**
 * The whole pipeline in one process, step by step through the same plain-data functions
 * the services call: decode → detection input → detect → boxes → crops → (direction) →
 * recognise → lines. Accepts encoded image bytes or decoded RGBA pixels.
 */
export async function recognise(
  models: OcrModels,
  image: Uint8Array | RgbaImage,
  options: RecogniseOptions = {},
): Promise<OcrResult> {
  const step = async <T>(name: OcrStep, work: () => T | Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    options.onStep?.(name, performance.now() - started);
    return result;
  };
  const pixels = ArrayBuffer.isView(image) ? await step('decode', () => decodeImage(image)) : image;
  const { tensor, geometry } = await step('detection-input', () =>
    prepareDetectionInput(pixels, options.detectionInput),
  );
  const map = await step('detection', () => detectText(models.detection, tensor));
  const boxes = await step('boxes', () => extractTextBoxes(map, geometry, options.boxes));
  const quads = boxes.map((box) => box.quad);
  let crops = await step('crop', () => cropTextBoxes(pixels, quads, options.crop));
  if (options.classifyDirection) {
    const direction = models.direction;
    if (!direction) throw new Error('classifyDirection needs a direction model: loadOcrModels({ direction: true })');
    crops = await step('direction', async () =>
      applyDirections(crops, await classifyDirections(direction, crops, options.direction)),
    );
  }
  const texts = await step('recognition', () => recogniseCrops(models.recognition, crops, options.recognition));
  const regions = texts.map((text, index) => ({ ...text, quad: quads[index] }));
  const lines = await step('lines', () => assembleLines(regions, options.lines));
  return { lines, regions, width: pixels.width, height: pixels.height };
}
