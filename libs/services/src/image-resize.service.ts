import type * as JimpModule from 'jimp';
import { YunbianService, type ServiceHandler } from '@yunbian/service-sdk';
import { YunbianError } from '@yunbian/transport';

export interface ImageResizeInput {
  /** The image, base64-encoded (PNG, JPEG, BMP, GIF or TIFF). */
  image: string;
  width?: number;
  height?: number;
  /** stretch: exactly width×height; contain: fit inside, letterboxed; cover: fill and crop; scale: keep ratio. */
  fit?: 'stretch' | 'contain' | 'cover' | 'scale';
  format?: 'png' | 'jpeg';
}

export interface ImageResizeOutput {
  image: string;
  mime: string;
  width: number;
  height: number;
  originalWidth: number;
  originalHeight: number;
}

const MAX_SIDE = 8192;

/** Decodes an image, resizes it, and encodes it again. */
@YunbianService({
  name: 'image-resize',
  version: '1.0.0',
  kind: 'data',
  description:
    'Decodes a base64 image, resizes it (stretch, contain, cover or scale) and re-encodes it as PNG or JPEG.',
  input: {
    type: 'object',
    required: ['image'],
    additionalProperties: false,
    properties: {
      image: { type: 'string', minLength: 1, contentEncoding: 'base64' },
      width: { type: 'integer', minimum: 1, maximum: MAX_SIDE },
      height: { type: 'integer', minimum: 1, maximum: MAX_SIDE },
      fit: { enum: ['stretch', 'contain', 'cover', 'scale'], default: 'scale' },
      format: { enum: ['png', 'jpeg'], default: 'png' },
    },
    anyOf: [{ required: ['width'] }, { required: ['height'] }],
  },
  output: {
    type: 'object',
    required: ['image', 'mime', 'width', 'height'],
    properties: {
      image: { type: 'string' },
      mime: { type: 'string' },
      width: { type: 'integer' },
      height: { type: 'integer' },
      originalWidth: { type: 'integer' },
      originalHeight: { type: 'integer' },
    },
  },
  requirements: { memoryMb: 256 },
  concurrency: 2,
  // Pure JavaScript (jimp, loaded on first call), bounded sides: it shares a process. A large
  // image holds its neighbours' event loop for tens of milliseconds while it is decoded.
  isolation: 'shared',
})
export class ImageResizeService implements ServiceHandler<ImageResizeInput, ImageResizeOutput> {
  async handle(input: ImageResizeInput): Promise<ImageResizeOutput> {
    const bytes = Buffer.from(input.image, 'base64');
    let image: Awaited<ReturnType<typeof JimpModule.Jimp.read>>;
    try {
      // jimp on first use (~6 MB): processes that list or share this service need not carry it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      image = await (require('jimp') as typeof JimpModule).Jimp.read(bytes);
    } catch (err) {
      throw new YunbianError(
        'BAD_REQUEST',
        `image could not be decoded (${bytes.length} bytes): ${(err as Error).message}; send PNG, JPEG, BMP, GIF or TIFF as base64`,
        { pointer: '/image' },
      );
    }
    const originalWidth = image.width;
    const originalHeight = image.height;
    const fit = input.fit ?? 'scale';
    const w = input.width ?? Math.max(1, Math.round((originalWidth * input.height!) / originalHeight));
    const h = input.height ?? Math.max(1, Math.round((originalHeight * input.width!) / originalWidth));
    if (fit === 'contain') image.contain({ w, h });
    else if (fit === 'cover') image.cover({ w, h });
    else if (fit === 'stretch') image.resize({ w, h });
    else image.scaleToFit({ w, h });
    const mime = input.format === 'jpeg' ? 'image/jpeg' : 'image/png';
    const encoded =
      mime === 'image/jpeg' ? await image.getBuffer('image/jpeg', { quality: 90 }) : await image.getBuffer('image/png');
    return {
      image: encoded.toString('base64'),
      mime,
      width: image.width,
      height: image.height,
      originalWidth,
      originalHeight,
    };
  }
}
