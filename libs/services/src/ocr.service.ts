/**
 * The OCR steps as services, composed by workflows/ocr.yaml: preprocess → detect (det
 * model) → boxes (DB post-processing) → crop → recognise (rec model + CTC decoding, per
 * box, batched) → lines. Images and tensors travel as base64 bytes; large ones go through
 * the object store like any large payload.
 */
import { readFile } from 'node:fs/promises';
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
  prepareDetectionInput,
  prepareRecognitionBatches,
  tensorToWire,
  type DetectionGeometry,
  type OcrRegion,
  type Quad,
  type WireImage,
} from '@yunbian/ocr';
import { fromWire, toWire, type WireTensor } from '@yunbian/inference';
import { YunbianService, type ServiceHandler } from '@yunbian/service-sdk';
import { YunbianError } from '@yunbian/transport';
import { OnnxModelService } from './onnx-inference.service';

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
    let image;
    try {
      image = await decodeImage(new Uint8Array(Buffer.from(input.image, 'base64')));
    } catch (err) {
      throw new YunbianError(
        'BAD_REQUEST',
        `image could not be decoded: ${(err as Error).message}; send PNG or JPEG as base64`,
        {
          pointer: '/image',
        },
      );
    }
    const { tensor, geometry } = await prepareDetectionInput(image);
    return { tensor: tensorToWire(tensor), geometry, image: imageToWire(image) };
  }
}

/** The text detector (registered model `ocr-det` unless the instance config names another). */
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
export class OcrDetectService extends OnnxModelService implements ServiceHandler<{ tensor: WireTensor }> {
  protected override defaultModel(): string {
    return 'ocr-det';
  }

  async handle(input: { tensor: WireTensor }) {
    const result = await this.infer({ [this.session.inputNames[0]]: fromWire('tensor', input.tensor) });
    const [map] = Object.values(result.outputs);
    return { map: toWire(map), batchSize: result.batchSize, run: result.run };
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
  description: 'PP-OCRv4 recognition of one cropped line: tensor in, text and confidence out (batched across requests)',
  input: { type: 'object', required: ['tensor'], properties: { tensor: { type: 'object' } } },
  requirements: { memoryMb: 512 },
  computeProfile: { defaultMs: 40, byTagMs: { gpu: 5 } },
  concurrency: 64,
})
export class OcrRecogniseService
  extends OnnxModelService
  implements ServiceHandler<{ tensor: WireTensor }>, OnModuleInit
{
  private characters: string[] = [];

  protected override defaultModel(): string {
    return 'ocr-rec';
  }

  override async onModuleInit(): Promise<void> {
    const dictionary = String(this.config.dictionaryPath ?? defaultModelPaths().dictionary);
    // As PaddleOCR with use_space_char: the file's lines, then a space.
    this.characters = [...(await readFile(dictionary, 'utf8')).split('\n'), ' '];
    await super.onModuleInit();
  }

  async handle(input: { tensor: WireTensor }) {
    const result = await this.infer({ [this.session.inputNames[0]]: fromWire('tensor', input.tensor) });
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
