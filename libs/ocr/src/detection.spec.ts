import { detectionGeometry, prepareDetectionInput } from './detection';
import type { RgbaImage } from './types';

function solidImage(width: number, height: number, [r, g, b]: [number, number, number]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set([r, g, b, 255], i);
  return { width, height, data };
}

describe('detection input', () => {
  it('letterboxes like sharp fit: contain into sides rounded up to multiples of 32', () => {
    expect(detectionGeometry(500, 130)).toEqual({
      originalWidth: 500,
      originalHeight: 130,
      inputWidth: 512,
      inputHeight: 160,
      resizedWidth: 512,
      resizedHeight: 133,
      offsetX: 0,
      offsetY: 13,
      ratioX: 512 / 500,
      ratioY: 133 / 130,
    });
    expect(detectionGeometry(20, 10)).toMatchObject({ inputWidth: 32, inputHeight: 32, resizedWidth: 32, offsetY: 8 });
    expect(detectionGeometry(640, 320)).toMatchObject({
      resizedWidth: 640,
      resizedHeight: 320,
      offsetX: 0,
      offsetY: 0,
    });
  });

  it('applies an optional longest-side limit before rounding (the reference sets none)', () => {
    expect(detectionGeometry(4000, 3000)).toMatchObject({ inputWidth: 4000, inputHeight: 3008 });
    expect(detectionGeometry(4000, 3000, { stride: 32, maxSideLength: 960 })).toMatchObject({
      inputWidth: 960,
      inputHeight: 736,
      resizedWidth: 960,
      resizedHeight: 720,
      offsetY: 8,
    });
  });

  it('makes a [1, 3, H, W] tensor of pixels / 255 in BGR order', async () => {
    const { tensor, geometry } = await prepareDetectionInput(solidImage(64, 32, [255, 51, 0]));
    expect(tensor.dims).toEqual([1, 3, 32, 64]);
    expect(geometry).toMatchObject({ offsetX: 0, offsetY: 0, ratioX: 1, ratioY: 1 });
    const plane = 32 * 64;
    expect([tensor.data[0], tensor.data[plane], tensor.data[2 * plane]]).toEqual([0, Math.fround(0.2), 1]);
  });

  it('pads with opaque black around the resized image, as the reference', async () => {
    const { tensor, geometry } = await prepareDetectionInput(solidImage(50, 20, [255, 255, 255]));
    expect(geometry).toMatchObject({ inputWidth: 64, inputHeight: 32, resizedHeight: 26, offsetY: 3 });
    const row = (y: number) => tensor.data[y * 64 + 10];
    expect([row(0), row(2), row(3), row(28), row(29), row(31)]).toEqual([0, 0, 1, 1, 0, 0]);
  });

  it('refuses an inconsistent image', async () => {
    await expect(prepareDetectionInput({ width: 4, height: 4, data: new Uint8Array(10) })).rejects.toThrow(
      'image must hold 4×4×4 = 64 RGBA bytes (got 10)',
    );
  });
});
