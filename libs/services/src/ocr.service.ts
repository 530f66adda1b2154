/**
 * The OCR steps as services. workflows/ocr.yaml composes regions (decode, detector input,
 * det model, DB post-processing and crops in one process: the image, the detector tensor
 * and the probability map are megabytes each and never leave it) → recognise (rec model +
 * CTC decoding, one task per box, batched across tasks and runs) → lines. The finer
 * services (preprocess → detect → boxes → crop) compose the same pipeline step by step
 * (docs/examples/ocr-steps.yaml); they move those megabytes between processes, which
 * `npm run bench:ocr` measures. Images and tensors travel as base64 bytes; large ones go
 * through the object store like any large payload.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { OnModuleInit } from '@nestjs/common';
import {
  assembleLines,
  cropTextBoxes,
  decodeImage,
  decodeRecognition,
  defaultModelPaths,
  extractTextBoxes,
  imageFromWire,
  imageToWire,
  imageToWireRgb,
  prepareDetectionInput,
  prepareRecognitionBatches,
  resizeForRecognition,
  tensorToWire,
  type DetectionGeometry,
  type OcrRegion,
  type RgbaImage,
  type Quad,
  type WireImage,
} from '@yunbian/ocr';
import { fromWire, toWire, type Tensor, type WireTensor } from '@yunbian/inference';
import { YunbianService, type ServiceHandler } from '@yunbian/service-sdk';
import { YunbianError } from '@yunbian/transport';
import { allowedLocalFile } from '@yunbian/models';
import { allowedModelDirs, OnnxModelService } from './onnx-inference.service';

const IMAGE_INPUT = {
  type: 'object',
  required: ['image'],
  properties: { image: { type: 'string', minLength: 1, description: 'PNG/JPEG bytes, base64' } },
};

@YunbianService({
  name: 'ocr-preprocess',
  version: '1.0.0',
  kind: 'data',
  description: 'Decodes an image and prepares the text detector input (stride-32 size, normalised NCHW tensor)',
  input: IMAGE_INPUT,
  requirements: { memoryMb: 256 },
})
export class OcrPreprocessService implements ServiceHandler<{ image: string }> {
  async handle(input: { image: string }) {
    const image = await decodeInputImage(input.image);
    const { tensor, geometry } = await prepareDetectionInput(image);
    return { tensor: tensorToWire(tensor), geometry, image: imageToWire(image) };
  }
}

/** Decodes the base64 image of a request, or says what is accepted. */
async function decodeInputImage(base64: string): Promise<RgbaImage> {
  try {
    return await decodeImage(new Uint8Array(Buffer.from(base64, 'base64')));
  } catch (err) {
    throw new YunbianError(
      'BAD_REQUEST',
      `image could not be decoded: ${(err as Error).message}; send PNG or JPEG as base64`,
      { pointer: '/image' },
    );
  }
}

/** Services around the text detector (registered model `ocr-det` unless the instance config names another). */
abstract class OcrDetectorService extends OnnxModelService {
  protected override defaultModel(): string {
    return 'ocr-det';
  }

  /** The detector's probability map for a `[1, 3, H, W]` input. */
  protected async probabilityMap(tensor: Tensor): Promise<{ map: Tensor; batchSize: number; run: number }> {
    const result = await this.infer({ [this.session.inputNames[0]]: tensor });
    const [map] = Object.values(result.outputs);
    return { map, batchSize: result.batchSize, run: result.run };
  }
}

/**
 * Where the text is: the detector (registered model `ocr-det` unless the instance config
 * names another) with its pre- and post-processing, and the crops the recogniser reads.
 */
@YunbianService({
  name: 'ocr-regions',
  version: '1.0.0',
  kind: 'inference',
  description:
    'PP-OCRv4 text detection end to end: image in; text boxes (original pixels, reading order) and one crop per box, ' +
    'already at the recogniser height (RGB), out',
  input: IMAGE_INPUT,
  requirements: { memoryMb: 768 },
  computeProfile: { defaultMs: 120, byTagMs: { gpu: 30 } },
  concurrency: 64,
})
export class OcrRegionsService extends OcrDetectorService implements ServiceHandler<{ image: string }> {
  async handle(input: { image: string }) {
    const image = await decodeInputImage(input.image);
    const { tensor, geometry } = await prepareDetectionInput(image);
    const { map } = await this.probabilityMap({ dims: [...tensor.dims], data: tensor.data });
    const [height, width] = map.dims.slice(-2);
    const boxes = await extractTextBoxes({ width, height, data: map.data }, geometry);
    const crops = await cropTextBoxes(
      image,
      boxes.map((b) => b.quad),
    );
    // At the recogniser's height already: a tenth of the bytes of a full-size crop, and the
    // recogniser's own resize then changes nothing.
    const resized = await Promise.all(crops.map((crop) => resizeForRecognition(crop)));
    return { width: image.width, height: image.height, boxes, crops: resized.map(imageToWireRgb) };
  }
}

/** The text detector alone: tensor in, probability map out. */
@YunbianService({
  name: 'ocr-detect',
  version: '1.0.0',
  kind: 'inference',
  description: 'PP-OCRv4 text detection: image tensor in, probability map out',
  input: { type: 'object', required: ['tensor'], properties: { tensor: { type: 'object' } } },
  requirements: { memoryMb: 512 },
  computeProfile: { defaultMs: 150, byTagMs: { gpu: 20 } },
  concurrency: 64,
})
export class OcrDetectService extends OcrDetectorService implements ServiceHandler<{ tensor: WireTensor }> {
  async handle(input: { tensor: WireTensor }) {
    const { map, batchSize, run } = await this.probabilityMap(fromWire('tensor', input.tensor));
    return { map: toWire(map), batchSize, run };
  }
}

@YunbianService({
  name: 'ocr-boxes',
  version: '1.0.0',
  kind: 'data',
  description: 'DB post-processing: binarise, contours, unclip; text boxes in original image pixels, in reading order',
  input: {
    type: 'object',
    required: ['map', 'geometry'],
    properties: { map: { type: 'object' }, geometry: { type: 'object' } },
  },
  requirements: { memoryMb: 256 },
})
export class OcrBoxesService implements ServiceHandler<{ map: WireTensor; geometry: DetectionGeometry }> {
  async handle(input: { map: WireTensor; geometry: DetectionGeometry }) {
    const map = fromWire('map', input.map);
    const [height, width] = map.dims.slice(-2);
    const boxes = await extractTextBoxes({ width, height, data: map.data }, input.geometry);
    return { boxes };
  }
}

@YunbianService({
  name: 'ocr-crop',
  version: '1.0.0',
  kind: 'data',
  description: 'Crops every text box from the image and prepares one recognition tensor per box',
  input: {
    type: 'object',
    required: ['image', 'boxes'],
    properties: { image: { type: 'object' }, boxes: { type: 'array' } },
  },
  requirements: { memoryMb: 256 },
})
export class OcrCropService implements ServiceHandler<{ image: WireImage; boxes: { quad: Quad }[] }> {
  async handle(input: { image: WireImage; boxes: { quad: Quad }[] }) {
    if (input.boxes.length === 0) return { tensors: [] };
    const crops = await cropTextBoxes(
      imageFromWire(input.image),
      input.boxes.map((b) => b.quad),
    );
    const batches = await prepareRecognitionBatches(crops, { batchSize: 1 });
    return { tensors: batches.map((b) => tensorToWire(b.tensor)) };
  }
}

/** The text recogniser with CTC decoding (registered model `ocr-rec`, the shipped dictionary). */
@YunbianService({
  name: 'ocr-recognise',
  version: '1.0.0',
  kind: 'inference',
  description:
    'PP-OCRv4 recognition of one text line: a crop (any size; resized to the model height) or its prepared tensor in, ' +
    'text and confidence out (batched across requests)',
  input: {
    type: 'object',
    properties: {
      image: { type: 'object', description: 'the crop: {width, height, rgb | rgba} with base64 bytes' },
      tensor: { type: 'object', description: 'the crop prepared as a float32 [1, 3, 48, W] tensor' },
    },
    oneOf: [{ required: ['image'] }, { required: ['tensor'] }],
  },
  requirements: { memoryMb: 512 },
  computeProfile: { defaultMs: 40, byTagMs: { gpu: 5 } },
  concurrency: 64,
})
export class OcrRecogniseService
  extends OnnxModelService
  implements ServiceHandler<{ tensor?: WireTensor; image?: WireImage }>, OnModuleInit
{
  private characters: string[] = [];

  protected override defaultModel(): string {
    return 'ocr-rec';
  }

  /**
   * Tuned on a 2-core node (`npm run bench:ocr`, BENCHMARKS.md): the boxes of one image
   * arrive together but rarely share a width, so waiting for company only adds delay;
   * requests that arrive while a batch runs still leave together. Two threads per run let
   * a lone image's lines use both cores (p50 57 ms for its recognitions against 95 ms).
   */
  protected override batchingDefaults() {
    return { ...super.batchingDefaults(), maxDelayMs: 0 };
  }

  protected override defaultIntraOpThreads(): number {
    return Math.min(2, os.availableParallelism());
  }

  override async onModuleInit(): Promise<void> {
    const dictionary =
      this.config.dictionaryPath === undefined
        ? defaultModelPaths().dictionary
        : await allowedLocalFile(this.config.dictionaryPath, 'dictionaryPath', allowedModelDirs());
    // As PaddleOCR with use_space_char: the file's lines, then a space.
    this.characters = [...(await readFile(dictionary, 'utf8')).split('\n'), ' '];
    await super.onModuleInit();
  }

  async handle(input: { tensor?: WireTensor; image?: WireImage }) {
    let tensor: Tensor;
    if (input.image) {
      let crop: RgbaImage;
      try {
        crop = imageFromWire(input.image);
      } catch (err) {
        throw new YunbianError('BAD_REQUEST', `image: ${(err as Error).message}`, { pointer: '/image' });
      }
      const [batch] = await prepareRecognitionBatches([crop], { batchSize: 1 });
      tensor = { dims: [...batch.tensor.dims], data: batch.tensor.data };
    } else tensor = fromWire('tensor', input.tensor!);
    const result = await this.infer({ [this.session.inputNames[0]]: tensor });
    const [probabilities] = Object.values(result.outputs);
    const [text] = decodeRecognition(probabilities, this.characters);
    return { ...text, batchSize: result.batchSize, run: result.run };
  }
}

@YunbianService({
  name: 'ocr-lines',
  version: '1.0.0',
  kind: 'data',
  description: 'Groups recognised regions into lines (drops regions under 0.5 confidence, as the reference)',
  input: {
    type: 'object',
    required: ['boxes', 'texts'],
    properties: { boxes: { type: 'array' }, texts: { type: 'array' } },
  },
  // Plain JavaScript over a few dozen boxes: a few MB beside others instead of a process.
  isolation: 'shared',
})
export class OcrLinesService implements ServiceHandler<{
  boxes: { quad: Quad }[];
  texts: { text: string; confidence: number }[];
}> {
  handle(input: { boxes: { quad: Quad }[]; texts: { text: string; confidence: number }[] }) {
    if (input.boxes.length !== input.texts.length) {
      throw new YunbianError(
        'BAD_REQUEST',
        `${input.boxes.length} boxes but ${input.texts.length} texts; one text per box expected`,
      );
    }
    const regions: OcrRegion[] = input.boxes.map((box, i) => ({
      quad: box.quad,
      text: input.texts[i].text,
      confidence: input.texts[i].confidence,
    }));
    return { lines: assembleLines(regions) };
  }
}
