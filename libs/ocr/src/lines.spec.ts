import { assembleLines } from './lines';
import type { OcrRegion, Quad } from './types';

const region = (text: string, left: number, top: number, width = 40, height = 20, confidence = 0.9): OcrRegion => ({
  text,
  confidence,
  quad: [
    [left, top],
    [left + width, top],
    [left + width, top + height],
    [left, top + height],
  ] as Quad,
});

describe('line assembly', () => {
  it('joins regions on one midline left to right and orders lines top to bottom', () => {
    const lines = assembleLines([region('world', 60, 2), region('second', 0, 40), region('hello', 0, 0, 40, 20, 0.7)]);
    expect(lines).toEqual([
      {
        text: 'hello world',
        confidence: 0.8,
        quad: [
          [0, 0],
          [100, 2],
          [100, 22],
          [0, 20],
        ],
      },
      { text: 'second', confidence: 0.9, quad: region('second', 0, 40).quad },
    ]);
  });

  it('drops regions read with less than 0.5 confidence, as the reference', () => {
    expect(
      assembleLines([region('noise', 0, 0, 40, 20, 0.49), region('kept', 0, 40)]).map((line) => line.text),
    ).toEqual(['kept']);
    expect(assembleLines([region('noise', 0, 0, 40, 20, 0.49)], { minConfidence: 0 })).toHaveLength(1);
    expect(assembleLines([])).toEqual([]);
  });
});
