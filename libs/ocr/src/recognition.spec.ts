/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { renderText } from '../../../tools/corpus/corpus';
import { decodeImage } from './image';
import { loadRecognitionModel, defaultModelPaths, type RecognitionModel } from './models';
import { decodeRecognition, prepareRecognitionBatches, recogniseCrops } from './recognition';
import type { RgbaImage } from './types';

const blankImage = (width: number, height: number): RgbaImage => ({
  width,
  height,
  data: new Uint8Array(width * height * 4).fill(255),
});

describe('recognition', () => {
  describe('CTC greedy decoding', () => {
    it('drops blanks and repeats and averages the kept probabilities', () => {
      // Classes: 0 blank, 1 'a', 2 'b', 3 ' '; timesteps read a a _ a b b.
      const steps = [1, 1, 0, 1, 2, 2];
      const probability = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
      const data = new Float32Array(steps.length * 4);
      steps.forEach((k, t) => (data[t * 4 + k] = probability[t]));
      const [read] = decodeRecognition({ dims: [1, 6, 4], data }, ['a', 'b', ' ']);
      expect(read.text).toBe('aab');
      expect(read.confidence).toBeCloseTo((0.9 + 0.6 + 0.5) / 3, 6);
      expect(
        decodeRecognition({ dims: [1, 2, 4], data: new Float32Array([1, 0, 0, 0, 1, 0, 0, 0]) }, ['a', 'b', ' ']),
      ).toEqual([{ text: '', confidence: 0 }]);
    });
  });

  describe('batches', () => {
    const crops = Array.from({ length: 32 }, (_, i) => blankImage(20 + ((i * 37) % 200), 24));

    it('runs each crop alone by default, as the reference', async () => {
      const batches = await prepareRecognitionBatches(crops);
      expect(batches).toHaveLength(32);
      expect(batches[5]).toMatchObject({ indices: [5], widths: [Math.round((crops[5].width * 48) / 24)] });
      expect(batches[5].tensor.dims).toEqual([1, 3, 48, batches[5].widths[0]]);
    });

    it('stacks up to batchSize crops by width into one tensor, zero-padded to the widest', async () => {
      const [batch, ...rest] = await prepareRecognitionBatches(crops, { batchSize: 32 });
      expect(rest).toEqual([]);
      const widest = Math.max(...batch.widths);
      expect(batch.tensor.dims).toEqual([32, 3, 48, widest]);
      expect(batch.widths).toEqual([...batch.widths].sort((a, b) => a - b));
      const narrowest = batch.indices[0];
      expect(batch.widths[0]).toBe(Math.round((crops[narrowest].width * 48) / 24));
      // First row of the narrowest crop: white up to its width, zeros after.
      expect(batch.tensor.data[batch.widths[0] - 1]).toBe(1);
      expect(batch.tensor.data[batch.widths[0]]).toBe(0);
      await expect(prepareRecognitionBatches(crops, { batchSize: 0 })).rejects.toThrow(
        'batchSize must be a positive integer',
      );
    });
  });

  describe('with the PP-OCRv4 recogniser', () => {
    let model: RecognitionModel;
    let crops: RgbaImage[];
    const words = Array.from({ length: 32 }, (_, i) =>
      i % 2 ? `Order ${1000 + i * 37}` : `Station ${String.fromCharCode(65 + (i % 26))}-${i}`,
    );

    beforeAll(async () => {
      const paths = defaultModelPaths();
      model = await loadRecognitionModel(paths.recognition, paths.dictionary);
      crops = await Promise.all(
        words.map(async (word) =>
          decodeImage((await renderText([word], { font: 'SANS_32_BLACK', marginX: 8, marginY: 4 })).png),
        ),
      );
    });

    it('reads 32 crops in 32 runs unbatched, or in one run batched (dynamic batch and width)', async () => {
      const input = model.session.inputMetadata[0];
      expect(input.isTensor && input.shape).toEqual(['p2o.DynamicDimension.0', 3, 48, 'p2o.DynamicDimension.1']);
      const run = jest.spyOn(model.session, 'run');

      const one = await recogniseCrops(model, crops);
      expect(run).toHaveBeenCalledTimes(32);
      run.mockClear();
      const batched = await recogniseCrops(model, crops, { batchSize: 32 });
      expect(run).toHaveBeenCalledTimes(1);
      run.mockRestore();

      // Tight synthetic crops sometimes read with a leading space or I as l; whole-image
      // accuracy is the accuracy spec's business.
      const correct = (reads: { text: string }[]) => reads.filter((read, i) => read.text.trim() === words[i]).length;
      expect(correct(one)).toBeGreaterThanOrEqual(30);
      expect(correct(batched)).toBeGreaterThanOrEqual(28);
    });
  });
});
