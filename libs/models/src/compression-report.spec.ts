import { compressionDeltas } from './compression-report';

describe('compressionDeltas', () => {
  it('gives the size ratio and the accuracy change in points, rounded', () => {
    expect(compressionDeltas({ bytes: 90_000, accuracy: 0.953 }, { bytes: 25_000, accuracy: 0.9515 })).toEqual({
      sizeRatio: 3.6,
      accuracyDeltaPoints: -0.15,
    });
    expect(compressionDeltas({ bytes: 3, accuracy: 0.9 }, { bytes: 2, accuracy: 0.91234 })).toEqual({
      sizeRatio: 1.5,
      accuracyDeltaPoints: 1.23,
    });
  });
});
