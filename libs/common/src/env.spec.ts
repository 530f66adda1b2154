import { envFlag, envInt } from './env';

describe('envFlag', () => {
  it('reads on/off words and falls back when unset or empty', () => {
    expect(envFlag('X', true, {})).toBe(true);
    expect(envFlag('X', false, { X: '' })).toBe(false);
    expect(envFlag('X', true, { X: '0' })).toBe(false);
    expect(envFlag('X', true, { X: 'Off' })).toBe(false);
    expect(envFlag('X', false, { X: 'true' })).toBe(true);
    expect(envFlag('X', false, { X: ' 1 ' })).toBe(true);
  });

  it('refuses anything else, naming the variable and what works', () => {
    expect(() => envFlag('YUNBIAN_SHARED_WORKER', true, { YUNBIAN_SHARED_WORKER: 'maybe' })).toThrow(
      'environment variable YUNBIAN_SHARED_WORKER="maybe" must be 1/true/on or 0/false/off',
    );
  });
});

describe('envInt', () => {
  it('reads integers, positive unless zero is allowed (0 turning a periodic task off)', () => {
    expect(envInt('X', 5, {})).toBe(5);
    expect(envInt('X', 5, { X: '12' })).toBe(12);
    expect(envInt('X', 5, { X: '0' }, { min: 0 })).toBe(0);
    expect(() => envInt('X', 5, { X: '0' })).toThrow('environment variable X="0" must be a positive integer');
    expect(() => envInt('X', 5, { X: '-1' }, { min: 0 })).toThrow('environment variable X="-1" must be an integer ≥ 0');
    expect(() => envInt('X', 5, { X: '1.5' })).toThrow('must be a positive integer');
  });
});
