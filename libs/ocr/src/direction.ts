import { assertRgbaImage, resizeImage, rotateImage180, writeImageToTensor } from './image';
import { runModel } from './inference';
import type { DirectionModel } from './models';
import { DEFAULT_DIRECTION, type DirectionOptions } from './parameters';
import type { DirectionDecision, RgbaImage } from './types';

/**
 * Step 4b — direction classification (PaddleOCR's `TextClassifier`; the reference has no
 * such step): each crop resized to the classifier's height with its width capped, padded
 * with zeros to the classifier's width, normalised to [-1, 1], run in batches. A crop is
 * turned when the classifier says 180° with more than `threshold` probability.
 */
export async function classifyDirections(
  model: DirectionModel,
  crops: readonly RgbaImage[],
  options: Partial<DirectionOptions> = {},
): Promise<DirectionDecision[]> {
  const { height, width, threshold, batchSize, normalisation } = { ...DEFAULT_DIRECTION, ...options };
  crops.forEach((crop, index) => assertRgbaImage(crop, `crop ${index}`));
  const decisions: DirectionDecision[] = [];
  for (let start = 0; start < crops.length; start += batchSize) {
    const batch = crops.slice(start, start + batchSize);
    const dims = [batch.length, 3, height, width];
    const data = new Float32Array(batch.length * 3 * height * width);
    for (const [row, crop] of batch.entries()) {
      const resizedWidth = Math.min(width, Math.ceil((height * crop.width) / crop.height));
      writeImageToTensor(await resizeImage(crop, resizedWidth, height), data, dims, row, normalisation);
    }
    const output = await runModel(model, { dims, data });
    if (output.dims.length !== 2 || output.dims[0] !== batch.length || output.dims[1] !== 2) {
      throw new Error(`${model.path} returned [${output.dims.join(', ')}]; [${batch.length}, 2] expected`);
    }
    for (let row = 0; row < batch.length; row++) {
      const upright = output.data[row * 2];
      const upsideDown = output.data[row * 2 + 1];
      decisions.push(
        upsideDown > upright
          ? { angle: upsideDown > threshold ? 180 : 0, score: upsideDown }
          : { angle: 0, score: upright },
      );
    }
  }
  return decisions;
}

/** Turns the crops the classifier found upside down; the others are returned as they are. */
export function applyDirections(crops: readonly RgbaImage[], decisions: readonly DirectionDecision[]): RgbaImage[] {
  if (decisions.length !== crops.length) {
    throw new Error(`${decisions.length} direction decisions for ${crops.length} crops`);
  }
  return crops.map((crop, index) => (decisions[index].angle === 180 ? rotateImage180(crop) : crop));
}
