import { Jimp } from 'jimp';
import { createAjv } from '@yunbian/common';
import { loadServiceLibrary, BUILTIN_SERVICE_DIR, serviceDescriptorOf } from '@yunbian/service-sdk';
import { ImageResizeService } from './image-resize.service';
import { JsonTransformService } from './json-transform.service';

describe('bundled services', () => {
  it('are found in the service library by name@version', () => {
    const library = loadServiceLibrary([BUILTIN_SERVICE_DIR]);
    expect([...library.keys()].sort()).toEqual([
      'image-resize@1.0.0',
      'json-transform@1.0.0',
      'model-ops@1.0.0',
      'ocr-boxes@1.0.0',
      'ocr-crop@1.0.0',
      'ocr-detect@1.0.0',
      'ocr-lines@1.0.0',
      'ocr-preprocess@1.0.0',
      'ocr-recognise@1.0.0',
      'ocr-regions@1.0.0',
      'onnx-inference@1.0.0',
      'telemetry-aggregate@1.0.0',
      'telemetry-ingest@1.0.0',
      'training@1.0.0',
    ]);
  });

  describe('json-transform', () => {
    const service = new JsonTransformService();
    it('applies JSONata expressions with bindings', async () => {
      const data = {
        orders: [
          { sku: 'a', qty: 2, price: 3 },
          { sku: 'b', qty: 1, price: 10 },
        ],
      };
      await expect(service.handle({ expression: '$sum(orders.(qty * price))', data })).resolves.toEqual({
        result: 16,
      });
      await expect(
        service.handle({ expression: 'orders[qty >= $min].sku', data, bindings: { min: 2 } }),
      ).resolves.toEqual({ result: 'a' });
      await expect(service.handle({ expression: 'missing', data })).resolves.toEqual({ result: null });
    });
    it('reports syntax errors with their position and stops runaway expressions', async () => {
      await expect(service.handle({ expression: 'orders[', data: {} })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        details: { pointer: '/expression' },
      });
      const runaway = '($f := function($n) { $f($n + 1) }; $f(0))';
      await expect(service.handle({ expression: runaway, data: {} })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
    });
  });

  describe('image-resize', () => {
    const service = new ImageResizeService();
    const validate = createAjv().compile(serviceDescriptorOf(ImageResizeService)!.input);
    const png = async (w: number, h: number) =>
      (await new Jimp({ width: w, height: h, color: 0xff0000ff }).getBuffer('image/png')).toString('base64');

    it('keeps the aspect ratio by default and honours fit modes', async () => {
      const image = await png(400, 200);
      await expect(service.handle({ image, width: 100 })).resolves.toMatchObject({
        width: 100,
        height: 50,
        originalWidth: 400,
        originalHeight: 200,
        mime: 'image/png',
      });
      await expect(service.handle({ image, width: 64, height: 64, fit: 'stretch' })).resolves.toMatchObject({
        width: 64,
        height: 64,
      });
      const jpeg = await service.handle({ image, width: 64, height: 64, fit: 'cover', format: 'jpeg' });
      expect(jpeg.mime).toBe('image/jpeg');
      const decoded = await Jimp.read(Buffer.from(jpeg.image, 'base64'));
      expect([decoded.width, decoded.height]).toEqual([64, 64]);
    });

    it('says what it accepts when the bytes are not an image', async () => {
      await expect(
        service.handle({ image: Buffer.from('not an image').toString('base64'), width: 10 }),
      ).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringContaining('send PNG, JPEG, BMP, GIF or TIFF as base64'),
      });
    });

    it('requires a width or a height', () => {
      expect(validate({ image: 'aGk=' })).toBe(false);
      expect(validate({ image: 'aGk=', height: 10 })).toBe(true);
    });
  });
});
