import { parseLinkChange } from './control';

describe('testbed control lines', () => {
  it('reads link settings', () => {
    expect(parseLinkChange(['up=100', 'down=50.5', 'rtt=10', 'loss=1'])).toEqual({
      upMbps: 100,
      downMbps: 50.5,
      rttMs: 10,
      lossPercent: 1,
    });
  });

  it('says which word is wrong and what is accepted', () => {
    expect(() => parseLinkChange(['speed=1'])).toThrow(
      /"speed=1" is not a link setting; use up=, down=, rtt= or loss=/,
    );
    expect(() => parseLinkChange(['up=fast'])).toThrow(/up must be a number \(got "fast"\)/);
    expect(() => parseLinkChange([])).toThrow(/nothing to change/);
  });
});
