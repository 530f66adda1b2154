import {
  imageFromWire,
  imageToWire,
  imageToWireRgb,
  probabilityMapFromWire,
  probabilityMapToWire,
  tensorFromWire,
  tensorToWire,
} from './wire';

const throughJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('wire forms', () => {
  it('carry images, tensors and probability maps through JSON unchanged', () => {
    const image = { width: 2, height: 1, data: new Uint8Array([1, 2, 3, 255, 4, 5, 6, 255]) };
    expect(imageFromWire(throughJson(imageToWire(image)))).toEqual(image);

    // Without alpha: a quarter smaller, read back opaque.
    const translucent = { width: 1, height: 1, data: new Uint8Array([7, 8, 9, 10]) };
    const rgb = throughJson(imageToWireRgb(translucent));
    expect(Buffer.from((rgb as { rgb: string }).rgb, 'base64')).toHaveLength(3);
    expect(imageFromWire(rgb)).toEqual({ width: 1, height: 1, data: new Uint8Array([7, 8, 9, 255]) });

    const values = new Float32Array([0.5, -1.25, 3e-8, 1e6, 0, 1, 2, 3, 4, 5, 6, 7]);
    const tensor = { dims: [1, 3, 2, 2], data: values };
    expect(tensorFromWire(throughJson(tensorToWire(tensor)))).toEqual(tensor);
    // A view into a larger buffer sends only its own bytes.
    const view = { dims: [2], data: values.subarray(1, 3) };
    expect(tensorFromWire(throughJson(tensorToWire(view)))).toEqual({
      dims: [2],
      data: new Float32Array([-1.25, 3e-8]),
    });

    const map = { width: 3, height: 1, data: new Float32Array([0.1, 0.9, 0.02]) };
    expect(probabilityMapFromWire(throughJson(probabilityMapToWire(map)))).toEqual(map);
  });

  it('refuses data that does not fit the declared shape', () => {
    expect(() => imageFromWire({ width: 2, height: 2, rgb: 'AAAA' })).toThrow('image 2×2 needs 12 RGB bytes, got 3');
    expect(() => imageFromWire({ width: 1, height: 1, rgba: 'AAAA' })).toThrow('image 1×1 needs 4 RGBA bytes, got 3');
    const wire = tensorToWire({ dims: [4], data: new Float32Array(4) });
    expect(() => tensorFromWire({ ...wire, dims: [5] })).toThrow('tensor [5] needs 5 float32 values, got 4');
    expect(() => probabilityMapFromWire({ width: 2, height: 2, float32: 'AAAAAA==' })).toThrow(
      'probability map 2×2 needs 4 float32 values, got 1',
    );
    expect(() => probabilityMapFromWire({ width: 1, height: 1, float32: 'AAAA' })).toThrow(
      'float32 data must be a multiple of 4 bytes (got 3)',
    );
  });
});
