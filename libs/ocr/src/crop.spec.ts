import { cropTextBoxes } from './crop';
import type { Quad, RgbaImage } from './types';

/** Every pixel encodes its position: R = x, G = y. */
function coordinateImage(width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x, y, 0, 255], (y * width + x) * 4);
  }
  return { width, height, data };
}

const pixel = (image: RgbaImage, x: number, y: number) => [
  ...image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 2),
];

describe('crop', () => {
  const image = coordinateImage(100, 60);

  it('cuts an upright box out of the original image pixel for pixel', async () => {
    const quad: Quad = [
      [10, 5],
      [40, 5],
      [40, 15],
      [10, 15],
    ];
    const [crop] = await cropTextBoxes(image, [quad]);
    expect([crop.width, crop.height]).toEqual([30, 10]);
    expect(pixel(crop, 0, 0)).toEqual([10, 5]);
    expect(pixel(crop, 29, 9)).toEqual([39, 14]);
  });

  it('turns a crop at least 1.5 times taller than wide a quarter turn, as the reference', async () => {
    const quad: Quad = [
      [20, 10],
      [30, 10],
      [30, 40],
      [20, 40],
    ];
    const [crop] = await cropTextBoxes(image, [quad]);
    expect([crop.width, crop.height]).toEqual([30, 10]);
    // Counter-clockwise: the crop's top-right corner comes to the top-left, shifted by the
    // reference's rotation centre (cols/2, cols/2) by one row, which the border repeats.
    expect(pixel(crop, 0, 1)).toEqual([29, 10]);
    expect(pixel(crop, 29, 9)).toEqual([21, 39]);
  });

  it('returns nothing for no boxes', async () => {
    await expect(cropTextBoxes(image, [])).resolves.toEqual([]);
  });
});
