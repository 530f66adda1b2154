import { formatDuration } from './duration';

describe('formatDuration', () => {
  it('uses the largest unit the duration fills, to one decimal', () => {
    expect(formatDuration(7 * 86_400_000)).toBe('7 d');
    expect(formatDuration(36 * 3_600_000)).toBe('1.5 d');
    expect(formatDuration(90 * 60_000)).toBe('1.5 h');
    expect(formatDuration(2_500)).toBe('2.5 s');
    expect(formatDuration(250)).toBe('250 ms');
  });
});
