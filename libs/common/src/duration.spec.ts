import { formatDuration, withDeadline } from './duration';

describe('formatDuration', () => {
  it('uses the largest unit the duration fills, to one decimal', () => {
    expect(formatDuration(7 * 86_400_000)).toBe('7 d');
    expect(formatDuration(36 * 3_600_000)).toBe('1.5 d');
    expect(formatDuration(90 * 60_000)).toBe('1.5 h');
    expect(formatDuration(2_500)).toBe('2.5 s');
    expect(formatDuration(250)).toBe('250 ms');
  });
});

describe('withDeadline', () => {
  it('passes the value or error through when it settles in time', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, 'x')).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('boom')), 1_000, 'x')).rejects.toThrow('boom');
  });

  it('rejects saying what did not happen once the deadline passes', async () => {
    await expect(withDeadline(new Promise(() => undefined), 20, 'the hub did not answer')).rejects.toThrow(
      'the hub did not answer within 20 ms',
    );
  });
});
