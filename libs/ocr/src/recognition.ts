import { assertRgbaImage, resizeImage, writeImageToTensor } from './image';
import { runModel } from './inference';
import type { RecognitionModel } from './models';
import { DEFAULT_RECOGNITION, type RecognitionOptions } from './parameters';
import type { FloatTensor, RecognisedText, RgbaImage } from './types';

/** Crops resized to the recogniser's height and stacked into one onnxruntime input. */
export interface RecognitionBatch {
  /** Position of each batch row in the crop list given to `prepareRecognitionBatches`. */
  indices: number[];
  /** Each row's resized width before padding (the batch is as wide as its widest row). */
  widths: number[];
  /** float32 `[rows, 3, height, widest]`. */
  tensor: FloatTensor;
}

/**
 * Step 5a — recognition preprocessing: each crop resized to `height` keeping its aspect
 * ratio (as the reference's sharp resize: width = round(width · height / crop height)) and
 * normalised. With `batchSize` 1 every crop is its own batch, in order, as the reference
 * runs them. Larger batches group crops of similar width (sorted by width, as PaddleOCR
 * sorts by aspect ratio) padded with zeros to the widest; the padding changes what the
 * model reads a little (its attention sees the whole row), mostly spaces between words.
 */
export async function prepareRecognitionBatches(
  crops: readonly RgbaImage[],
  options: Partial<RecognitionOptions> = {},
): Promise<RecognitionBatch[]> {
  const { height, batchSize, normalisation } = { ...DEFAULT_RECOGNITION, ...options };
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchSize must be a positive integer (got ${batchSize})`);
  }
  crops.forEach((crop, index) => assertRgbaImage(crop, `crop ${index}`));
  const resized = await Promise.all(crops.map((crop) => resizeForRecognition(crop, height)));
  const order = resized.map((_, index) => index);
  if (batchSize > 1) order.sort((a, b) => resized[a].width - resized[b].width);
  const batches: RecognitionBatch[] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    const widths = indices.map((index) => resized[index].width);
    const widest = Math.max(...widths);
    const dims = [indices.length, 3, height, widest];
    const data = new Float32Array(indices.length * 3 * height * widest);
    // Rows narrower than the batch keep zeros on their right: the value PaddleOCR pads with
    // (in training too); edge-repeated or white padding read worse on the corpus.
    indices.forEach((index, row) => writeImageToTensor(resized[index], data, dims, row, normalisation));
    batches.push({ indices, widths, tensor: { dims, data } });
  }
  return batches;
}

/**
 * A crop resized to the recogniser's `height` keeping its aspect ratio (width =
 * round(width · height / crop height), as the reference's sharp resize). A crop already that
 * high comes back as it is, so resizing where the crop is made and again in the recogniser
 * gives the same pixels as resizing once.
 */
export function resizeForRecognition(crop: RgbaImage, height = DEFAULT_RECOGNITION.height): Promise<RgbaImage> {
  return resizeImage(crop, Math.max(1, Math.round((crop.width * height) / crop.height)), height);
}

/** Step 5b — recognition: one onnxruntime run per batch; output `[rows, timesteps, classes]` probabilities. */
export async function runRecognition(model: RecognitionModel, tensor: FloatTensor): Promise<FloatTensor> {
  const output = await runModel(model, tensor);
  if (output.dims.length !== 3 || output.dims[0] !== tensor.dims[0] || output.dims[2] !== model.characters.length + 1) {
    throw new Error(
      `${model.path} returned [${output.dims.join(', ')}] for input [${tensor.dims.join(', ')}]; ` +
        `[${tensor.dims[0]}, timesteps, ${model.characters.length + 1}] expected`,
    );
  }
  return output;
}

/**
 * Step 5c — CTC greedy decoding, as the reference and PaddleOCR's `CTCLabelDecode`: the
 * most likely class per timestep, blanks (class 0) and repeats dropped, class k read as
 * `characters[k - 1]`; confidence is the mean probability of the characters kept.
 */
export function decodeRecognition(output: FloatTensor, characters: readonly string[]): RecognisedText[] {
  const [rows, timesteps, classes] = output.dims;
  const texts: RecognisedText[] = [];
  for (let row = 0; row < rows; row++) {
    let text = '';
    let probabilitySum = 0;
    let kept = 0;
    let previous = -1;
    for (let step = 0; step < timesteps; step++) {
      const base = (row * timesteps + step) * classes;
      let best = 0;
      let bestProbability = output.data[base];
      for (let k = 1; k < classes; k++) {
        if (output.data[base + k] > bestProbability) {
          bestProbability = output.data[base + k];
          best = k;
        }
      }
      if (best !== 0 && best !== previous) {
        text += characters[best - 1];
        probabilitySum += bestProbability;
        kept++;
      }
      previous = best;
    }
    texts.push({ text, confidence: kept ? probabilitySum / kept : 0 });
  }
  return texts;
}

/** Steps 5a–5c for a list of crops; results in the crops' order. */
export async function recogniseCrops(
  model: RecognitionModel,
  crops: readonly RgbaImage[],
  options: Partial<RecognitionOptions> = {},
): Promise<RecognisedText[]> {
  const results: RecognisedText[] = new Array<RecognisedText>(crops.length);
  for (const batch of await prepareRecognitionBatches(crops, options)) {
    const texts = decodeRecognition(await runRecognition(model, batch.tensor), model.characters);
    batch.indices.forEach((index, row) => (results[index] = texts[row]));
  }
  return results;
}
