import { copyChanges } from './site-copy';

describe('copyChanges', () => {
  it('writes what is new or changed and purges what went; leaves the rest alone', () => {
    const written = new Map([
      ['node.a', '1'],
      ['node.b', '2'],
      ['node.gone', '3'],
    ]);
    const wanted = new Map([
      ['node.a', '1'],
      ['node.b', '2b'],
      ['node.new', '4'],
    ]);
    expect(copyChanges(written, wanted)).toEqual({ put: ['node.b', 'node.new'], purge: ['node.gone'] });
    expect(copyChanges(wanted, wanted)).toEqual({ put: [], purge: [] });
  });
});
