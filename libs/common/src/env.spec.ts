import { envFlag } from './env';

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
