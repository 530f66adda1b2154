import { concatenate, DynamicBatcher, split, type NamedTensors } from './dynamic-batcher';

const row = (value: number, width = 3): NamedTensors => ({
  x: { dims: [1, width], data: new Float32Array(width).fill(value) },
});
// A "model" that doubles its input and records the batch sizes it saw.
const doubling = (seen: number[]) => async (inputs: NamedTensors) => {
  seen.push(inputs.x.dims[0]);
  return { y: { dims: inputs.x.dims, data: inputs.x.data.map((v) => v * 2) } };
};

describe('DynamicBatcher', () => {
  it('serves a burst in fewer executions than requests, each caller getting its own rows', async () => {
    const seen: number[] = [];
    const batcher = new DynamicBatcher(doubling(seen), { maxBatch: 8, maxDelayMs: 20, maxQueue: 100 });
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => batcher.submit(row(i))));
    expect(batcher.executions).toBeLessThan(32);
    expect(seen.every((n) => n <= 8)).toBe(true);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(32);
    results.forEach((r, i) => {
      expect(Array.from(r.outputs.y.data)).toEqual([i * 2, i * 2, i * 2]);
      expect(r.outputs.y.dims).toEqual([1, 3]);
    });
  });

  it('only merges requests whose shapes agree beyond the batch dimension', async () => {
    const seen: number[] = [];
    const batcher = new DynamicBatcher(doubling(seen), { maxBatch: 8, maxDelayMs: 10, maxQueue: 100 });
    const mixed = await Promise.all([batcher.submit(row(1, 3)), batcher.submit(row(2, 5)), batcher.submit(row(3, 3))]);
    expect(mixed.map((m) => m.outputs.y.dims)).toEqual([
      [1, 3],
      [1, 5],
      [1, 3],
    ]);
    expect(seen.sort()).toEqual([1, 2]);
  });

  it('with no delay runs a lone request at once and sends what arrived meanwhile together', async () => {
    const seen: number[] = [];
    const slow = async (inputs: NamedTensors) => {
      seen.push(inputs.x.dims[0]);
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { y: inputs.x };
    };
    const batcher = new DynamicBatcher(slow, { maxBatch: 8, maxDelayMs: 0, maxQueue: 10 });
    const first = batcher.submit(row(1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen).toEqual([1]);
    await Promise.all([first, batcher.submit(row(2)), batcher.submit(row(3)), batcher.submit(row(4))]);
    expect(seen).toEqual([1, 3]);
  });

  it('refuses beyond its queue limit with OVERLOADED, and passes model errors to every caller of the batch', async () => {
    const batcher = new DynamicBatcher(
      async () => {
        throw new Error('bad input shape');
      },
      { maxBatch: 4, maxDelayMs: 50, maxQueue: 2 },
    );
    const a = batcher.submit(row(1));
    const b = batcher.submit(row(2));
    await expect(batcher.submit(row(3))).rejects.toMatchObject({ code: 'OVERLOADED' });
    await expect(a).rejects.toThrow('bad input shape');
    await expect(b).rejects.toThrow('bad input shape');
  });

  it('concatenates and splits along dimension 0', () => {
    const merged = concatenate([row(1, 2), { x: { dims: [2, 2], data: new Float32Array([2, 2, 3, 3]) } }]);
    expect(merged.x.dims).toEqual([3, 2]);
    const parts = split({ y: merged.x }, [1, 2]);
    expect(Array.from(parts[1].y.data)).toEqual([2, 2, 3, 3]);
    expect(() => split({ y: { dims: [2, 2], data: new Float32Array(4) } }, [1, 2])).toThrow(
      /does not batch along dimension 0/,
    );
  });
});
