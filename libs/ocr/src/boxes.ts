import ClipperLib from 'clipper-lib';
import { withOpenCv, type OpenCv, type OpenCvMat, type OpenCvRotatedRect } from './opencv';
import { DEFAULT_BOX_EXTRACTION, type BoxExtractionOptions } from './parameters';
import type { DetectionGeometry, Point, ProbabilityMap, Quad, TextBox } from './types';

/**
 * Step 3 — box extraction (DB post-processing), as the reference's `splitIntoLineImages`:
 * binarise the map, find contours, take each contour's min-area rectangle, grow it by the
 * unclip distance, take the min-area rectangle again, map it back to the original image
 * (rounded, clipped to the image) and drop small boxes. Adds PaddleOCR's box score (and an
 * optional filter on it) and sorts the boxes top to bottom, then left to right.
 */
export async function extractTextBoxes(
  map: ProbabilityMap,
  geometry: DetectionGeometry,
  options: Partial<BoxExtractionOptions> = {},
): Promise<TextBox[]> {
  const settings = { ...DEFAULT_BOX_EXTRACTION, ...options };
  if (map.width !== geometry.inputWidth || map.height !== geometry.inputHeight) {
    throw new Error(
      `probability map ${map.width}×${map.height} does not match the detection input ${geometry.inputWidth}×${geometry.inputHeight}`,
    );
  }
  if (map.data.length !== map.width * map.height) {
    throw new Error(`probability map must hold ${map.width}×${map.height} values (got ${map.data.length})`);
  }
  const boxes = await withOpenCv((cv, keep) => {
    const binary = keep(new cv.Mat(map.height, map.width, cv.CV_8UC1));
    const pixels = binary.data;
    for (let i = 0; i < map.data.length; i++) pixels[i] = map.data[i] > settings.binaryThreshold ? 255 : 0;
    const contours = keep(new cv.MatVector());
    cv.findContours(binary, contours, keep(new cv.Mat()), cv.RETR_LIST, cv.CHAIN_APPROX_SIMPLE);
    const probabilities = keep(cv.matFromArray(map.height, map.width, cv.CV_32FC1, map.data));

    const found: TextBox[] = [];
    const candidates = Math.min(contours.size(), settings.maxCandidates);
    for (let i = 0; i < candidates; i++) {
      const contour = keep(contours.get(i));
      const mini = miniBox(cv.minAreaRect(contour));
      if (mini.shortSide < settings.minSide) continue;
      const score = boxScore(cv, probabilities, mini.points);
      if (score < settings.minBoxScore) continue;
      const grown = unclip(mini.points, settings.unclipRatio);
      if (grown.length < 3) continue;
      const grownMat = keep(cv.matFromArray(grown.length, 1, cv.CV_32SC2, grown.flat()));
      const final = miniBox(cv.minAreaRect(grownMat));
      if (final.shortSide < settings.minSideAfterUnclip) continue;
      const quad = final.points.map(([x, y]) => toOriginal(x, y, geometry)) as Quad;
      const [topLeft, topRight, , bottomLeft] = orderClockwise(quad);
      if (
        Math.trunc(distance(topLeft, topRight)) <= settings.minRectSide ||
        Math.trunc(distance(topLeft, bottomLeft)) <= settings.minRectSide
      ) {
        continue;
      }
      found.push({ quad, score });
    }
    return found;
  });
  return sortBoxes(boxes);
}

/** Map pixel → original image pixel, rounded and clipped to [0, size] as the reference. */
function toOriginal(x: number, y: number, geometry: DetectionGeometry): Point {
  const originalX = Math.round((x - geometry.offsetX) / geometry.ratioX);
  const originalY = Math.round((y - geometry.offsetY) / geometry.ratioY);
  return [clamp(originalX, 0, geometry.originalWidth), clamp(originalY, 0, geometry.originalHeight)];
}

/**
 * Corners of a rotated rectangle as top-left, top-right, bottom-right, bottom-left (PaddleOCR's
 * `get_mini_boxes`), with the corner formula the reference uses, and its shorter side.
 */
export function miniBox({ center, size, angle }: OpenCvRotatedRect): { points: Quad; shortSide: number } {
  const theta = (angle * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const dx = size.width / 2;
  const dy = size.height / 2;
  const corners: Point[] = [
    [center.x - dx * cos + dy * sin, center.y - dx * sin - dy * cos],
    [center.x + dx * cos + dy * sin, center.y + dx * sin - dy * cos],
    [center.x + dx * cos - dy * sin, center.y + dx * sin + dy * cos],
    [center.x - dx * cos - dy * sin, center.y - dx * sin + dy * cos],
  ];
  const byX = corners.sort((a, b) => a[0] - b[0]);
  const [topLeft, bottomLeft] = byX[1][1] > byX[0][1] ? [byX[0], byX[1]] : [byX[1], byX[0]];
  const [topRight, bottomRight] = byX[3][1] > byX[2][1] ? [byX[2], byX[3]] : [byX[3], byX[2]];
  return { points: [topLeft, topRight, bottomRight, bottomLeft], shortSide: Math.min(size.width, size.height) };
}

/** PaddleOCR's `box_score_fast`: mean probability inside the box, over its bounding rectangle. */
function boxScore(cv: OpenCv, probabilities: OpenCvMat, box: Quad): number {
  const xs = box.map(([x]) => x);
  const ys = box.map(([, y]) => y);
  const left = clamp(Math.floor(Math.min(...xs)), 0, probabilities.cols - 1);
  const right = clamp(Math.ceil(Math.max(...xs)), 0, probabilities.cols - 1);
  const top = clamp(Math.floor(Math.min(...ys)), 0, probabilities.rows - 1);
  const bottom = clamp(Math.ceil(Math.max(...ys)), 0, probabilities.rows - 1);
  const mask = cv.Mat.zeros(bottom - top + 1, right - left + 1, cv.CV_8UC1);
  const polygon = cv.matFromArray(
    4,
    1,
    cv.CV_32SC2,
    box.flatMap(([x, y]) => [Math.trunc(x - left), Math.trunc(y - top)]),
  );
  const polygons = new cv.MatVector();
  const region = probabilities.roi(new cv.Rect(left, top, right - left + 1, bottom - top + 1));
  try {
    polygons.push_back(polygon);
    cv.fillPoly(mask, polygons, new cv.Scalar(1));
    return cv.mean(region, mask)[0];
  } finally {
    for (const mat of [mask, polygon, polygons, region]) mat.delete();
  }
}

/** DB's unclip: offsets the polygon outwards by area × ratio / perimeter, with round joins (Clipper). */
export function unclip(box: readonly Point[], ratio: number): Point[] {
  const area = Math.abs(polygonArea(box));
  const perimeter = polygonPerimeter(box);
  if (perimeter === 0) return [];
  const offset = new ClipperLib.ClipperOffset();
  offset.AddPath(
    box.map(([x, y]) => ({ X: x, Y: y })),
    ClipperLib.JoinType.jtRound,
    ClipperLib.EndType.etClosedPolygon,
  );
  const solution: { X: number; Y: number }[][] = [];
  offset.Execute(solution, (area * ratio) / perimeter);
  return (solution[0] ?? []).map(({ X, Y }) => [X, Y]);
}

/** Top-left (smallest x+y), top-right, bottom-right (largest x+y), bottom-left (PaddleOCR's order_points_clockwise). */
export function orderClockwise(points: Quad): Quad {
  const sums = points.map(([x, y]) => x + y);
  const topLeft = points[sums.indexOf(Math.min(...sums))];
  const bottomRight = points[sums.indexOf(Math.max(...sums))];
  const rest = points.filter((point) => point !== topLeft && point !== bottomRight);
  if (rest.length !== 2) return points;
  const [a, b] = rest;
  const [topRight, bottomLeft] = a[1] - a[0] <= b[1] - b[0] ? [a, b] : [b, a];
  return [topLeft, topRight, bottomRight, bottomLeft];
}

/**
 * PaddleOCR's `sorted_boxes`: by the top-left corner's y then x, then boxes whose tops are
 * within 10 pixels are put left to right.
 */
export function sortBoxes<T extends { quad: Quad }>(boxes: readonly T[]): T[] {
  const sorted = [...boxes].sort((a, b) => a.quad[0][1] - b.quad[0][1] || a.quad[0][0] - b.quad[0][0]);
  for (let i = 0; i < sorted.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const [upper, lower] = [sorted[j], sorted[j + 1]];
      if (Math.abs(lower.quad[0][1] - upper.quad[0][1]) < 10 && lower.quad[0][0] < upper.quad[0][0]) {
        [sorted[j], sorted[j + 1]] = [lower, upper];
      } else {
        break;
      }
    }
  }
  return sorted;
}

function polygonArea(points: readonly Point[]): number {
  let area = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    area += points[j][1] * points[i][0] - points[j][0] * points[i][1];
  }
  return area / 2;
}

function polygonPerimeter(points: readonly Point[]): number {
  let perimeter = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) perimeter += distance(points[j], points[i]);
  return perimeter;
}

export function distance([x1, y1]: Point, [x2, y2]: Point): number {
  return Math.hypot(x1 - x2, y1 - y2);
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(value, max));
}
