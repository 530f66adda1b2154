import { nodeLiveness } from './node-liveness';

describe('nodeLiveness', () => {
  it('is alive within one and a half intervals', () => {
    expect(nodeLiveness(0, 2000)).toBe('alive');
    expect(nodeLiveness(3000, 2000)).toBe('alive');
  });
  it('is suspect after one and a half missed intervals', () => {
    expect(nodeLiveness(3001, 2000)).toBe('suspect');
    expect(nodeLiveness(6000, 2000)).toBe('suspect');
  });
  it('is dead after three missed intervals', () => {
    expect(nodeLiveness(6001, 2000)).toBe('dead');
  });
  it('follows a custom policy', () => {
    expect(nodeLiveness(2500, 500, { suspectAfterIntervals: 2, deadAfterIntervals: 5 })).toBe('suspect');
    expect(nodeLiveness(2501, 500, { suspectAfterIntervals: 2, deadAfterIntervals: 5 })).toBe('dead');
  });
});
