import { bytesToBase64, float32FromBase64 } from './binary';

describe('binary data in JSON', () => {
  it('carries float32 values through base64, a view sending only its own bytes', () => {
    const values = new Float32Array([0.5, -1.25, 3e-8, 1e6]);
    expect(float32FromBase64(bytesToBase64(values))).toEqual(values);
    expect(float32FromBase64(bytesToBase64(values.subarray(1, 3)), 2)).toEqual(new Float32Array([-1.25, 3e-8]));
  });

  it('says what is wrong with data that is not whole float32 values or not as many as expected', () => {
    expect(() => float32FromBase64('AAAA')).toThrow('float32 data must be a multiple of 4 bytes (got 3)');
    expect(() => float32FromBase64(bytesToBase64(new Float32Array(4)), 5)).toThrow('needs 5 float32 values, got 4');
  });
});
