import type * as JimpModule from 'jimp';
import { withOpenCv } from './opencv';
import type { Normalisation } from './parameters';
import type { RgbaImage } from './types';

let jimp: typeof JimpModule | undefined;
/** jimp on first use: processes that load this library without decoding images skip its ~6 MB. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Jimp = () => (jimp ??= require('jimp') as typeof JimpModule).Jimp;

/** Decodes PNG, JPEG, BMP, GIF or TIFF bytes into RGBA pixels. */
export async function decodeImage(bytes: Uint8Array): Promise<RgbaImage> {
  let image: Awaited<ReturnType<typeof JimpModule.Jimp.read>>;
  try {
    image = await Jimp().read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new Error(
      `image could not be decoded (${bytes.byteLength} bytes): ${(err as Error).message}; send PNG, JPEG, BMP, GIF or TIFF`,
    );
  }
  const { width, height, data } = image.bitmap;
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Throws a message naming `what` when `image` is not a consistent RGBA image. */
export function assertRgbaImage(image: RgbaImage, what = 'image'): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what} must have positive integer width and height (got ${width}×${height})`);
  }
  // Tag check rather than instanceof: typed arrays from another realm (a worker, Jest) count too.
  if (Object.prototype.toString.call(data) !== '[object Uint8Array]' || data.length !== width * height * 4) {
    throw new Error(
      `${what} must hold ${width}×${height}×4 = ${width * height * 4} RGBA bytes (got ${data?.length ?? 'none'})`,
    );
  }
}

/**
 * Resizes like the reference's sharp/libvips `resize` as closely as OpenCV allows:
 * enlarging uses bicubic interpolation with libvips's sampling grid (output pixel x reads
 * input x · scale − ½, measured against sharp 0.33), shrinking uses area averaging, which is
 * the closest OpenCV filter to libvips's lanczos3 reduce. Same size returns the image itself.
 */
export async function resizeImage(image: RgbaImage, width: number, height: number): Promise<RgbaImage> {
  if (width === image.width && height === image.height) return image;
  return withOpenCv((cv, keep) => {
    const source = keep(cv.matFromArray(image.height, image.width, cv.CV_8UC4, image.data));
    const target = keep(new cv.Mat());
    const scaleX = image.width / width;
    const scaleY = image.height / height;
    if (scaleX <= 1 && scaleY <= 1) {
      const inverse = keep(cv.matFromArray(2, 3, cv.CV_64FC1, [scaleX, 0, -0.5, 0, scaleY, -0.5]));
      cv.warpAffine(
        source,
        target,
        inverse,
        new cv.Size(width, height),
        cv.INTER_CUBIC | cv.WARP_INVERSE_MAP,
        cv.BORDER_REPLICATE,
        new cv.Scalar(),
      );
    } else {
      cv.resize(source, target, new cv.Size(width, height), 0, 0, cv.INTER_AREA);
    }
    return { width, height, data: target.data.slice() };
  });
}

/** Turns an image upside down (what the direction classifier's 180° label asks for). */
export function rotateImage180(image: RgbaImage): RgbaImage {
  const pixels = new Uint32Array(image.data.slice().buffer);
  pixels.reverse();
  return { width: image.width, height: image.height, data: new Uint8Array(pixels.buffer) };
}

/**
 * Writes `image` into batch slot `batchIndex` of an NCHW float tensor (top-left aligned;
 * the tensor may be wider or taller, its other values are left as they are), applying
 * `(pixel / 255 - mean) / std` per channel in the model's channel order. Alpha is ignored.
 */
export function writeImageToTensor(
  image: RgbaImage,
  tensor: Float32Array,
  dims: readonly number[],
  batchIndex: number,
  { mean, std, channelOrder }: Normalisation,
): void {
  const [, channels, tensorHeight, tensorWidth] = dims;
  if (channels !== 3 || image.width > tensorWidth || image.height > tensorHeight) {
    throw new Error(
      `a ${image.width}×${image.height} image does not fit tensor [${dims.join(', ')}] (3 channels expected)`,
    );
  }
  const plane = tensorHeight * tensorWidth;
  const base = batchIndex * 3 * plane;
  // Source channel (R=0, G=1, B=2) feeding tensor channel 0, 1, 2.
  const sourceChannel = channelOrder === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let channel = 0; channel < 3; channel++) {
    const scale = 1 / (255 * std[channel]);
    const shift = mean[channel] / std[channel];
    const offset = sourceChannel[channel];
    const channelBase = base + channel * plane;
    for (let y = 0; y < image.height; y++) {
      let source = y * image.width * 4 + offset;
      let target = channelBase + y * tensorWidth;
      for (let x = 0; x < image.width; x++, source += 4, target++) {
        tensor[target] = image.data[source] * scale - shift;
      }
    }
  }
}
