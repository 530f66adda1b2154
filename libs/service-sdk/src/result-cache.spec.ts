import { ResultCache } from './result-cache';

describe('ResultCache', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000));

  it('runs a key once and answers repeats with the same value or the same error', async () => {
    const cache = new ResultCache({ windowMs: 60_000, maxEntries: 100, now: clock });
    let runs = 0;
    const first = cache.run('k1', async () => ++runs);
    expect(first.executed).toBe(true);
    await expect(first.outcome).resolves.toBe(1);
    const again = cache.run('k1', async () => ++runs);
    expect(again.executed).toBe(false);
    await expect(again.outcome).resolves.toBe(1);

    const failure = new Error('handler failed');
    await expect(cache.run('k2', () => Promise.reject(failure)).outcome).rejects.toBe(failure);
    const repeated = cache.run('k2', async () => ++runs);
    expect(repeated.executed).toBe(false);
    await expect(repeated.outcome).rejects.toBe(failure);
    expect(runs).toBe(1);
  });

  it('makes a repeat that arrives while the first runs wait for it', async () => {
    const cache = new ResultCache({ windowMs: 60_000, maxEntries: 100, now: clock });
    let finish!: (v: string) => void;
    let runs = 0;
    const first = cache.run('k', () => {
      runs++;
      return new Promise<string>((resolve) => (finish = resolve));
    });
    const second = cache.run('k', async () => {
      runs++;
      return 'second';
    });
    expect(second.executed).toBe(false);
    finish('first');
    await expect(second.outcome).resolves.toBe('first');
    await expect(first.outcome).resolves.toBe('first');
    expect(runs).toBe(1);
  });

  it('forgets an outcome once the window has passed since it settled', async () => {
    const cache = new ResultCache({ windowMs: 5_000, maxEntries: 100, now: clock });
    await cache.run('k', async () => 'old').outcome;
    now += 5_000;
    expect(cache.has('k')).toBe(true);
    now += 1;
    expect(cache.has('k')).toBe(false);
    const fresh = cache.run('k', async () => 'new');
    expect(fresh.executed).toBe(true);
    await expect(fresh.outcome).resolves.toBe('new');
  });

  it('keeps at most maxEntries, dropping the oldest finished ones but never a running one', async () => {
    const cache = new ResultCache({ windowMs: 60_000, maxEntries: 2, now: clock });
    const running = cache.run('running', () => new Promise(() => undefined));
    await cache.run('a', async () => 'a').outcome;
    await cache.run('b', async () => 'b').outcome;
    expect(cache.size).toBe(2);
    expect(cache.has('running')).toBe(true);
    expect(cache.has('a')).toBe(false);
    expect(cache.has('b')).toBe(true);
    expect(cache.run('running', async () => 'second').executed).toBe(false);
    void running;
  });

  it('keeps at most maxBytes of replies, dropping the oldest first', async () => {
    const cache = new ResultCache({ windowMs: 60_000, maxBytes: 2_500, now: clock });
    for (const key of ['a', 'b', 'c']) await cache.run(key, async () => 'x'.repeat(1_000)).outcome;
    expect(cache.has('a')).toBe(false);
    expect(cache.has('b')).toBe(true);
    expect(cache.has('c')).toBe(true);
    expect(cache.keptBytes).toBe(2 * 1_002);
    cache.forget('b');
    expect(cache.keptBytes).toBe(1_002);
  });
});
