/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { renderText } from '../../../tools/corpus/corpus';
import { decodeImage, rotateImage180 } from './image';
import { loadOcrModels, type OcrModels } from './models';
import { recognise } from './pipeline';

describe('recognise (all steps in one process)', () => {
  let models: OcrModels;
  const lines = ['Invoice INV-20931', 'Total $418.50 due 2026-01-15'];

  beforeAll(async () => {
    models = await loadOcrModels({ direction: true });
  });

  it('reads the lines of an encoded image with their boxes in image pixels', async () => {
    const { png, width, height } = await renderText(lines, { marginX: 30, marginY: 20, gap: 12 });
    const result = await recognise(models, png);
    expect(result.lines.map((line) => line.text)).toEqual(lines);
    expect([result.width, result.height]).toEqual([width, height]);
    for (const { quad, confidence } of result.lines) {
      expect(confidence).toBeGreaterThan(0.9);
      for (const [x, y] of quad) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(width);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(height);
      }
    }
    expect(result.lines[0].quad[2][1]).toBeLessThan(result.lines[1].quad[0][1] + 5);
  });

  it('takes decoded pixels too, and fixes upside-down text when asked to classify direction', async () => {
    const upsideDown = rotateImage180(
      await decodeImage((await renderText(lines, { marginX: 30, marginY: 20, gap: 12 })).png),
    );
    const fixed = await recognise(models, upsideDown, { classifyDirection: true });
    // Upside down, the last line is on top.
    expect(fixed.lines.map((line) => line.text)).toEqual([...lines].reverse());
    await expect(
      recognise({ ...models, direction: undefined }, upsideDown, { classifyDirection: true }),
    ).rejects.toThrow('classifyDirection needs a direction model');
  });

  it('says when the bytes are not an image', async () => {
    await expect(recognise(models, Buffer.from('not an image'))).rejects.toThrow(
      'image could not be decoded (12 bytes)',
    );
  });
});
