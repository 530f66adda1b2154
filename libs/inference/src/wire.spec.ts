import {
  float16Bits,
  float16Value,
  fromWire,
  namedFromWire,
  narrowTo,
  packWire,
  quantizeInt8,
  toWire,
  wireDataBytes,
  type AnyWireTensor,
} from './wire';

/** Deterministic values with both signs, a few exact zeros (as after a ReLU) and a spread of magnitudes. */
function sample(n: number): Float32Array {
  let s = 12345;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = i % 7 === 0 ? 0 : ((s / 2 ** 31) * 2 - 1) * 10 ** ((i % 5) - 2);
  }
  return out;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

describe('tensor wire forms', () => {
  const tensor = { dims: [2, 3, 50], data: sample(300) };

  it('carries float32 exactly, with or without dtype, and counts 4 bytes a value', () => {
    const wire = toWire(tensor);
    expect(wire).not.toHaveProperty('dtype');
    expect(fromWire('x', wire).data).toEqual(tensor.data);
    expect(fromWire('x', { ...wire, dtype: 'float32' }).data).toEqual(tensor.data);
    expect(wireDataBytes(wire)).toBe(1200);
    expect(packWire(tensor, 'float32')).toEqual(wire);
  });

  it('carries float16 in 2 bytes a value, within half a unit in the last place (relative 2^-11)', () => {
    const wire = packWire(tensor, 'float16');
    expect(wire).toMatchObject({ dims: [2, 3, 50], dtype: 'float16' });
    expect(wire).not.toHaveProperty('float32');
    expect(wireDataBytes(wire)).toBe(600);
    const back = fromWire('x', wire).data;
    expect(back).toEqual(narrowTo(tensor.data, 'float16'));
    for (let i = 0; i < back.length; i++) {
      const v = tensor.data[i];
      // Normal halves: relative error ≤ 2^-11; below 2^-14 (subnormal) absolute ≤ 2^-25.
      expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
    }
    expect(maxAbsDiff(back, tensor.data)).toBeGreaterThan(0); // it is lossy
  });

  it('rounds float16 as IEEE 754 does: ties to even, overflow to Infinity, subnormals, NaN', () => {
    const round = (v: number) => float16Value(float16Bits(v));
    expect(round(1 / 3)).toBe(0.333251953125);
    expect(round(65504)).toBe(65504);
    expect(round(65520)).toBe(Infinity); // halfway past the largest half rounds up
    expect(round(-1e6)).toBe(-Infinity);
    expect(round(2049)).toBe(2048); // tie to even
    expect(round(2051)).toBe(2052);
    expect(round(2 ** -24)).toBe(2 ** -24); // the smallest subnormal
    expect(round(2 ** -26)).toBe(0);
    expect(round(3 * 2 ** -25)).toBe(2 ** -23); // subnormal tie to even (1.5 units → 2)
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(Number.isNaN(round(NaN))).toBe(true);
  });

  it('carries int8 in 1 byte a value with a scale and zero point, each value within scale / 2, zero exact', () => {
    const wire = packWire(tensor, 'int8') as Extract<AnyWireTensor, { dtype: 'int8' }>;
    expect(wire).toMatchObject({ dtype: 'int8', zeroPoint: expect.any(Number), scale: expect.any(Number) });
    expect(wireDataBytes(wire)).toBe(300);
    const back = fromWire('x', wire).data;
    expect(back).toEqual(narrowTo(tensor.data, 'int8'));
    const lo = Math.min(0, ...tensor.data);
    const hi = Math.max(0, ...tensor.data);
    expect(wire.scale).toBeCloseTo((hi - lo) / 255, 12);
    expect(maxAbsDiff(back, tensor.data)).toBeLessThanOrEqual((wire.scale / 2) * (1 + 1e-6));
    for (let i = 0; i < back.length; i += 7) expect(back[i]).toBe(0);
  });

  it('quantizes a non-negative tensor (a ReLU output) with zero at -128 and a constant one without dividing by zero', () => {
    const relu = quantizeInt8(Float32Array.from([0, 0.5, 1]));
    expect(relu.zeroPoint).toBe(-128);
    expect(Array.from(relu.q)).toEqual([-128, 0, 127]);
    expect(Array.from(narrowTo(Float32Array.from([0, 0.5, 1]), 'int8'))).toEqual([0, Math.fround(128 / 255), 1]);
    const flat = quantizeInt8(new Float32Array(4));
    expect(flat.scale).toBe(1);
    expect(Array.from(narrowTo(new Float32Array(4), 'int8'))).toEqual([0, 0, 0, 0]);
    const negative = narrowTo(Float32Array.from([-4, -2, -1]), 'int8');
    expect(maxAbsDiff(negative, Float32Array.from([-4, -2, -1]))).toBeLessThanOrEqual(4 / 255 / 2 + 1e-7);
  });

  it('refuses an unknown dtype, the wrong byte count or a bad scale, naming the tensor and what is accepted', () => {
    const unknown = { dims: [2], dtype: 'bfloat16', data: 'AAAA' } as unknown as AnyWireTensor;
    expect(() => namedFromWire({ feat: unknown })).toThrow(
      /tensor feat \[2\]: dtype "bfloat16" is not one this reader knows; accepted: float32 .*float16 .*int8/,
    );
    const half = packWire({ dims: [4], data: Float32Array.from([1, 2, 3, 4]) }, 'float16');
    expect(() => fromWire('h', { ...half, dims: [5] })).toThrow(
      'tensor h [5]: float16 data must be 2 bytes a value: 10 bytes for 5 values, got 8',
    );
    const int8 = packWire({ dims: [4], data: Float32Array.from([1, 2, 3, 4]) }, 'int8');
    expect(() => fromWire('q', { ...int8, scale: 0 } as AnyWireTensor)).toThrow('needs a finite scale above 0');
    expect(() => fromWire('q', { ...int8, zeroPoint: 200 } as AnyWireTensor)).toThrow('zeroPoint in [-128, 127]');
    expect(() => fromWire('q', { dims: [4], dtype: 'int8' } as unknown as AnyWireTensor)).toThrow(
      'tensor q [4]: the bytes of a int8 tensor travel as base64 under "data"',
    );
    expect(() =>
      fromWire('f', { dims: [3], float32: toWire({ dims: [2], data: new Float32Array(2) }).float32 }),
    ).toThrow('tensor f [3]: needs 3 float32 values, got 2');
    try {
      fromWire('feat', unknown);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('BAD_REQUEST');
    }
  });
});
