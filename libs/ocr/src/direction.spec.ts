/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { renderText } from '../../../tools/corpus/corpus';
import { applyDirections, classifyDirections } from './direction';
import { decodeImage, rotateImage180 } from './image';
import { defaultModelPaths, loadDirectionModel, type DirectionModel } from './models';
import type { RgbaImage } from './types';

describe('direction classification', () => {
  let model: DirectionModel;
  let upright: RgbaImage[];

  beforeAll(async () => {
    model = await loadDirectionModel(defaultModelPaths().direction);
    upright = await Promise.all(
      (['SANS_16_BLACK', 'SANS_32_BLACK', 'SANS_64_BLACK'] as const).map(async (font) =>
        decodeImage((await renderText(['Invoice 2024-11'], { font, marginX: 6, marginY: 2 })).png),
      ),
    );
  });

  it('turns upside-down crops back and leaves upright ones alone', async () => {
    const crops = [...upright, ...upright.map(rotateImage180)];
    const decisions = await classifyDirections(model, crops);
    expect(decisions.map((decision) => decision.angle)).toEqual([0, 0, 0, 180, 180, 180]);
    expect(Math.min(...decisions.map((decision) => decision.score))).toBeGreaterThan(0.9);
    const fixed = applyDirections(crops, decisions);
    expect(fixed.slice(3)).toEqual(upright);
    expect(fixed[0]).toBe(crops[0]);
  });

  it('keeps a crop upright when the classifier is not sure enough', async () => {
    const [decision] = await classifyDirections(model, [rotateImage180(upright[1])], { threshold: 1.01 });
    expect(decision.angle).toBe(0);
    expect(decision.score).toBeGreaterThan(0.9);
  });
});
