import { extractTextBoxes, sortBoxes, unclip } from './boxes';
import { detectionGeometry } from './detection';
import type { ProbabilityMap, Quad } from './types';

/** A map with rectangles of the given probability (inclusive pixel bounds). */
function mapWith(
  width: number,
  height: number,
  rectangles: { left: number; top: number; right: number; bottom: number; value: number }[],
): ProbabilityMap {
  const data = new Float32Array(width * height);
  for (const { left, top, right, bottom, value } of rectangles) {
    for (let y = top; y <= bottom; y++) data.fill(value, y * width + left, y * width + right + 1);
  }
  return { width, height, data };
}

const quadOf = (left: number, top: number, right: number, bottom: number): Quad => [
  [left, top],
  [right, top],
  [right, bottom],
  [left, bottom],
];

describe('box extraction (DB post-processing)', () => {
  it('grows each text region by the unclip distance and scores it', async () => {
    const map = mapWith(64, 32, [{ left: 10, top: 8, right: 40, bottom: 18, value: 0.9 }]);
    const boxes = await extractTextBoxes(map, detectionGeometry(64, 32));
    // The contour's min-area rectangle is 30×10; unclip adds 30·10·1.5 / 80 = 5.6 px a side.
    expect(boxes).toEqual([{ quad: quadOf(4, 2, 46, 24), score: expect.any(Number) }]);
    // PaddleOCR's score truncates the float corners, so the mask takes in a sliver of background.
    expect(boxes[0].score).toBeGreaterThan(0.85);
    expect(boxes[0].score).toBeLessThanOrEqual(0.9);
  });

  it('maps boxes back through the letterbox to original image pixels', async () => {
    const geometry = detectionGeometry(50, 20); // 64×32 input: scaled 1.28, 3 px black band on top
    const map = mapWith(64, 32, [{ left: 10, top: 8, right: 40, bottom: 18, value: 0.9 }]);
    const [box] = await extractTextBoxes(map, geometry);
    expect(box.quad).toEqual(quadOf(3, 0, 36, 16));
  });

  it('binarises at 0.03 as the reference, and can filter on the box score', async () => {
    const faint = mapWith(64, 32, [{ left: 10, top: 8, right: 40, bottom: 18, value: 0.02 }]);
    await expect(extractTextBoxes(faint, detectionGeometry(64, 32))).resolves.toEqual([]);
    const weak = mapWith(64, 32, [{ left: 10, top: 8, right: 40, bottom: 18, value: 0.5 }]);
    await expect(extractTextBoxes(weak, detectionGeometry(64, 32))).resolves.toHaveLength(1);
    await expect(extractTextBoxes(weak, detectionGeometry(64, 32), { minBoxScore: 0.6 })).resolves.toEqual([]);
  });

  it('drops specks and returns boxes top to bottom, left to right', async () => {
    const map = mapWith(224, 96, [
      { left: 120, top: 60, right: 180, bottom: 70, value: 0.8 },
      { left: 110, top: 10, right: 180, bottom: 20, value: 0.8 },
      { left: 10, top: 12, right: 90, bottom: 22, value: 0.8 },
      { left: 10, top: 61, right: 100, bottom: 71, value: 0.8 },
      { left: 60, top: 40, right: 61, bottom: 41, value: 0.8 },
    ]);
    const boxes = await extractTextBoxes(map, detectionGeometry(224, 96));
    // Grown by 6.7, 6.6, 6.9 and 6.4 px: unclip distances follow each box's size.
    expect(boxes.map((box) => box.quad[0])).toEqual([
      [3, 5],
      [103, 3],
      [3, 54],
      [114, 54],
    ]);
  });

  it('refuses a map that does not belong to the geometry', async () => {
    await expect(extractTextBoxes(mapWith(32, 32, []), detectionGeometry(64, 32))).rejects.toThrow(
      'probability map 32×32 does not match the detection input 64×32',
    );
  });

  it('sorts like PaddleOCR: tops within 10 px count as one row', () => {
    const at = (x: number, y: number) => ({ quad: quadOf(x, y, x + 10, y + 10) });
    expect(sortBoxes([at(50, 5), at(0, 30), at(10, 8), at(90, 0)])).toEqual([
      at(10, 8),
      at(50, 5),
      at(90, 0),
      at(0, 30),
    ]);
  });

  it('unclips with round joins, growing every side by area · ratio / perimeter', () => {
    const grown = unclip(quadOf(0, 0, 40, 10), 1.5);
    const xs = grown.map(([x]) => x);
    const ys = grown.map(([, y]) => y);
    expect([Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)]).toEqual([-6, 46, -6, 16]);
    expect(unclip(quadOf(5, 5, 5, 5), 1.5)).toEqual([]);
  });
});
