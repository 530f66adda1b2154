import { Admission } from './admission';

const limits = { concurrency: 2, queue: 1, what: 'things', settings: 'X_CONCURRENCY, X_QUEUE', retryAfterSeconds: 5 };

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('Admission', () => {
  it('runs up to the concurrency, queues up to the bound, and refuses past it naming the settings', async () => {
    const admission = new Admission(limits);
    const gates = [gate(), gate(), gate()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      admission.run(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(admission.stats()).toEqual({ running: 2, waiting: 1 });
    await expect(admission.run(async () => 9)).rejects.toMatchObject({
      code: 'OVERLOADED',
      message: expect.stringContaining('2 running and 1 waiting (the bound, X_CONCURRENCY, X_QUEUE)'),
      details: expect.objectContaining({ retryAfterSeconds: 5 }),
    });
    gates[0].open();
    await runs[0];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    gates[1].open();
    gates[2].open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(admission.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the place of work that fails', async () => {
    const admission = new Admission({ ...limits, concurrency: 1, queue: 0 });
    await expect(admission.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(admission.run(async () => 'ok')).resolves.toBe('ok');
  });
});
