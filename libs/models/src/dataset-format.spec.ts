import { datasetCount, decodeDataset, encodeDataset } from './dataset-format';

describe('the dataset layout', () => {
  it('round-trips samples and labels', () => {
    const images = Float32Array.from({ length: 3 * 4 }, (_, i) => i / 7);
    const labels = Uint8Array.from([2, 0, 9]);
    const bytes = encodeDataset({ count: 3, shape: [2, 2], images, labels });
    expect(bytes.length).toBe(3 * (4 * 4 + 1));
    expect(datasetCount(bytes.length, [2, 2], true)).toEqual({ count: 3 });
    const back = decodeDataset(bytes, { count: 3, shape: [2, 2], labelled: true });
    expect(back.images).toEqual(images);
    expect(back.labels).toEqual(labels);
    expect(
      decodeDataset(encodeDataset({ count: 3, shape: [4], images }), { count: 3, shape: [4], labelled: false }).labels,
    ).toBeUndefined();
  });

  it('says why a length is not a whole number of samples', () => {
    expect(datasetCount(3_000, [1, 28, 28], true)).toEqual({
      problem:
        '3000 bytes are not a whole number of samples: a labelled sample of [1, 28, 28] takes 3137 bytes (784 float32 + a uint8 label)',
    });
    expect(datasetCount(0, [4], false)).toEqual({ problem: 'the body is empty' });
    expect(() => decodeDataset(new Uint8Array(10), { count: 1, shape: [4], labelled: false })).toThrow(
      'dataset bytes are 10 long, 16 expected',
    );
  });
});
