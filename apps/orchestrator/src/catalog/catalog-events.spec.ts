import { ChangeBatch } from './catalog-events';

describe('ChangeBatch', () => {
  it('keeps one change per record, the last, in first-change order, and empties on take', () => {
    const batch = new ChangeBatch();
    batch.add({ kind: 'node', id: 'a' });
    batch.add({ kind: 'instance', id: 'i1' });
    batch.add({ kind: 'node', id: 'a' });
    batch.add({ kind: 'node', id: 'b' });
    batch.add({ kind: 'instance', id: 'i1', removed: true });
    expect(batch.size).toBe(3);
    expect(batch.take()).toEqual([
      { kind: 'node', id: 'a' },
      { kind: 'instance', id: 'i1', removed: true },
      { kind: 'node', id: 'b' },
    ]);
    expect(batch.take()).toEqual([]);
  });

  it('tells a node and an instance of the same id apart', () => {
    const batch = new ChangeBatch();
    batch.add({ kind: 'node', id: 'x' });
    batch.add({ kind: 'instance', id: 'x' });
    expect(batch.take()).toHaveLength(2);
  });
});
