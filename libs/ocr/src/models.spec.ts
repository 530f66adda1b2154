/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  defaultModelPaths,
  loadDetectionModel,
  loadDirectionModel,
  loadOcrModels,
  loadRecognitionModel,
  OcrModelError,
} from './models';

describe('model loading', () => {
  let directory: string;
  const paths = defaultModelPaths();

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'ocr-models-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('loads the shipped models; the direction classifier only on request, as the reference has none', async () => {
    const models = await loadOcrModels();
    expect(models.direction).toBeUndefined();
    expect(models.recognition.characters).toHaveLength(6624);
    expect(models.recognition.characters.at(-1)).toBe(' ');
    const withDirection = await loadOcrModels({ direction: true });
    expect(withDirection.direction?.path).toBe(paths.direction);
  });

  it("says which file is broken and passes on onnxruntime's reason", async () => {
    const broken = path.join(directory, 'broken.onnx');
    await writeFile(broken, 'not a model');
    const failure = loadDetectionModel(broken);
    await expect(failure).rejects.toBeInstanceOf(OcrModelError);
    await expect(failure).rejects.toThrow(
      `text detection model ${broken} (11 bytes) could not be loaded by onnxruntime: Failed to load model because protobuf parsing failed.`,
    );
  });

  it('says when a file is missing', async () => {
    const missing = path.join(directory, 'missing.onnx');
    await expect(loadOcrModels({ recognition: missing })).rejects.toThrow(
      `text recognition model ${missing} could not be read: no such file`,
    );
  });

  it('refuses a dictionary that does not fit the recogniser, and a detector given as classifier', async () => {
    const dictionary = path.join(directory, 'keys.txt');
    await writeFile(dictionary, 'a\nb\nc');
    await expect(loadRecognitionModel(paths.recognition, dictionary)).rejects.toThrow(
      `dictionary ${dictionary} does not fit recognition model ${paths.recognition}: the model outputs 6625 classes, ` +
        'the dictionary gives 4 characters (with the space) + 1 blank = 5',
    );
    await expect(loadDirectionModel(paths.recognition)).rejects.toThrow(
      `${paths.recognition} is not a text direction classifier: it outputs 6625 classes, 2 (0° and 180°) expected`,
    );
  });
});
