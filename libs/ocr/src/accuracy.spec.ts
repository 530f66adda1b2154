import { characterAccuracy, editDistance } from './accuracy';

describe('character accuracy', () => {
  it('counts insertions, deletions and substitutions by code point', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('价格 12', '价格12')).toBe(1);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('aggregates edits over all samples against the expected lengths, lines joined by newlines', () => {
    const { accuracy, tally } = characterAccuracy([
      { expected: ['abcd', 'ef'], actual: ['abcd', 'ef'] },
      { expected: ['ghij'], actual: ['ghi'] },
      { expected: ['kl', 'mn'], actual: ['kl mn'] },
    ]);
    expect(tally).toEqual({ errors: 2, characters: 16, samples: 3 });
    expect(accuracy).toBeCloseTo(1 - 2 / 16, 10);
  });
});
