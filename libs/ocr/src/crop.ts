import { distance } from './boxes';
import { assertRgbaImage } from './image';
import { withOpenCv } from './opencv';
import { DEFAULT_CROP, type CropOptions } from './parameters';
import type { Quad, RgbaImage } from './types';

/**
 * Step 4 — crop: straightens each box out of the original image with a perspective warp
 * (bicubic, edges replicated), as the reference's `getRotateCropImage`. A crop at least
 * `tallRatio` times taller than wide is turned 90° counter-clockwise with the same affine
 * warp the reference uses, so vertical text reads left to right.
 */
export async function cropTextBoxes(
  image: RgbaImage,
  quads: readonly Quad[],
  options: Partial<CropOptions> = {},
): Promise<RgbaImage[]> {
  assertRgbaImage(image);
  const { tallRatio } = { ...DEFAULT_CROP, ...options };
  if (quads.length === 0) return [];
  return withOpenCv((cv, keep) => {
    const source = keep(cv.matFromArray(image.height, image.width, cv.CV_8UC4, image.data));
    return quads.map((quad) => {
      const [p0, p1, p2, p3] = quad;
      const width = Math.max(1, Math.trunc(Math.max(distance(p0, p1), distance(p2, p3))));
      const height = Math.max(1, Math.trunc(Math.max(distance(p0, p3), distance(p1, p2))));
      const from = keep(cv.matFromArray(4, 1, cv.CV_32FC2, quad.flat()));
      const to = keep(cv.matFromArray(4, 1, cv.CV_32FC2, [0, 0, width, 0, width, height, 0, height]));
      const transform = keep(cv.getPerspectiveTransform(from, to));
      const crop = keep(new cv.Mat());
      const size = new cv.Size(width, height);
      cv.warpPerspective(source, crop, transform, size, cv.INTER_CUBIC, cv.BORDER_REPLICATE, new cv.Scalar());
      if (crop.rows / crop.cols < tallRatio) return { width: crop.cols, height: crop.rows, data: crop.data.slice() };
      // The reference rotates about (cols/2, cols/2) into a rows×cols canvas (np.rot90 in PaddleOCR).
      const rotation = keep(cv.getRotationMatrix2D(new cv.Point(crop.cols / 2, crop.cols / 2), 90, 1));
      const turned = keep(new cv.Mat());
      const turnedSize = new cv.Size(crop.rows, crop.cols);
      cv.warpAffine(crop, turned, rotation, turnedSize, cv.INTER_CUBIC, cv.BORDER_REPLICATE, new cv.Scalar());
      return { width: turned.cols, height: turned.rows, data: turned.data.slice() };
    });
  });
}
