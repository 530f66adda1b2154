import { assertRgbaImage, resizeImage, writeImageToTensor } from './image';
import { runModel } from './inference';
import type { DetectionModel } from './models';
import { DEFAULT_DETECTION_INPUT, type DetectionInputOptions } from './parameters';
import type { DetectionGeometry, DetectionInput, FloatTensor, ProbabilityMap, RgbaImage } from './types';

/**
 * Where the image goes in the detector's input. As the reference: each side rounded up to
 * a multiple of the stride (at least one stride), the image scaled to fit inside keeping
 * its aspect ratio (sharp's `fit: 'contain'`: scale = min of the two ratios, sizes rounded)
 * and centred (offsets rounded down). An optional longest-side limit is applied first.
 */
export function detectionGeometry(
  width: number,
  height: number,
  { stride, maxSideLength }: Pick<DetectionInputOptions, 'stride' | 'maxSideLength'> = DEFAULT_DETECTION_INPUT,
): DetectionGeometry {
  let limitedWidth = width;
  let limitedHeight = height;
  if (maxSideLength && Math.max(width, height) > maxSideLength) {
    const ratio = maxSideLength / Math.max(width, height);
    limitedWidth = width * ratio;
    limitedHeight = height * ratio;
  }
  const inputWidth = Math.max(Math.ceil(limitedWidth / stride) * stride, stride);
  const inputHeight = Math.max(Math.ceil(limitedHeight / stride) * stride, stride);
  const scale = Math.min(inputWidth / width, inputHeight / height);
  const resizedWidth = Math.max(1, Math.min(inputWidth, Math.round(width * scale)));
  const resizedHeight = Math.max(1, Math.min(inputHeight, Math.round(height * scale)));
  return {
    originalWidth: width,
    originalHeight: height,
    resizedWidth,
    resizedHeight,
    inputWidth,
    inputHeight,
    offsetX: Math.floor((inputWidth - resizedWidth) / 2),
    offsetY: Math.floor((inputHeight - resizedHeight) / 2),
    ratioX: resizedWidth / width,
    ratioY: resizedHeight / height,
  };
}

/**
 * Step 1 — image preprocessing: letterboxes the image into the detector's input size and
 * normalises it into a float32 `[1, 3, H, W]` tensor (BGR, pixels / 255 by default).
 */
export async function prepareDetectionInput(
  image: RgbaImage,
  options: Partial<DetectionInputOptions> = {},
): Promise<DetectionInput> {
  assertRgbaImage(image);
  const settings = { ...DEFAULT_DETECTION_INPUT, ...options };
  const geometry = detectionGeometry(image.width, image.height, settings);
  const resized = await resizeImage(image, geometry.resizedWidth, geometry.resizedHeight);
  const canvas = letterbox(resized, geometry, settings.padding);
  const dims = [1, 3, geometry.inputHeight, geometry.inputWidth];
  const data = new Float32Array(3 * geometry.inputHeight * geometry.inputWidth);
  writeImageToTensor(canvas, data, dims, 0, settings.normalisation);
  return { tensor: { dims, data }, geometry };
}

/** Step 2 — text detection: runs the detector and returns its probability map. */
export async function detectText(model: DetectionModel, tensor: FloatTensor): Promise<ProbabilityMap> {
  if (tensor.dims.length !== 4 || tensor.dims[0] !== 1 || tensor.dims[1] !== 3) {
    throw new Error(`detection input must be one image [1, 3, H, W] (got [${tensor.dims.join(', ')}])`);
  }
  const output = await runModel(model, tensor);
  const [, , height, width] = output.dims;
  if (output.dims.length !== 4 || width !== tensor.dims[3] || height !== tensor.dims[2]) {
    throw new Error(
      `${model.path} returned [${output.dims.join(', ')}] for input [${tensor.dims.join(', ')}]; a [1, 1, H, W] map expected`,
    );
  }
  return { width, height, data: output.data };
}

function letterbox(resized: RgbaImage, geometry: DetectionGeometry, [r, g, b]: [number, number, number]): RgbaImage {
  const { inputWidth, inputHeight, offsetX, offsetY } = geometry;
  if (resized.width === inputWidth && resized.height === inputHeight) return resized;
  const data = new Uint8Array(inputWidth * inputHeight * 4);
  const fill = new Uint32Array(data.buffer);
  fill.fill(new Uint32Array(new Uint8Array([r, g, b, 255]).buffer)[0]);
  for (let y = 0; y < resized.height; y++) {
    const row = resized.data.subarray(y * resized.width * 4, (y + 1) * resized.width * 4);
    data.set(row, ((y + offsetY) * inputWidth + offsetX) * 4);
  }
  return { width: inputWidth, height: inputHeight, data };
}
