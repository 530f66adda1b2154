import { JsonLogger } from '@yunbian/common';
import type { EngineAnnouncement } from '@yunbian/contracts';
import type { RunEngine, RunRecord } from '@yunbian/workflow';
import { EngineTakeover, orphanedEngines, runsOf, type EngineTracker } from './engine-takeover';

const run = (id: string, status: RunRecord['status'], executedBy?: RunRecord['executedBy']) =>
  ({ id, status, executedBy }) as RunRecord;
const embedded = (id: string): RunEngine => ({ kind: 'embedded', id, reason: 'caller' });

describe('runsOf', () => {
  it('keeps the running runs the named embedded engine executed', () => {
    const runs = [
      run('a', 'running', embedded('e1')),
      run('b', 'succeeded', embedded('e1')),
      run('c', 'running', embedded('e2')),
      run('d', 'running', { kind: 'cloud', id: 'e1', reason: 'cloud' }),
      run('e', 'running'),
    ];
    expect(runsOf(runs, 'e1').map((r) => r.id)).toEqual(['a']);
  });
});

describe('orphanedEngines', () => {
  it('names the embedded engines of running runs that are not live, once each', () => {
    const runs = [
      run('a', 'running', embedded('gone')),
      run('b', 'running', embedded('gone')),
      run('c', 'running', embedded('alive')),
      run('d', 'failed', embedded('old')),
      run('e', 'running', { kind: 'site', id: 'site-x', reason: 'site' }),
    ];
    expect(orphanedEngines(runs, (id) => id === 'alive')).toEqual(['gone']);
  });
});

describe('EngineTakeover', () => {
  /** A tracker whose losses the test announces, a store of records, and an executor recording adoptions. */
  function setup(records: RunRecord[], live: string[] = []) {
    const listeners: ((engine: EngineAnnouncement, reason: string) => void)[] = [];
    const engines: EngineTracker = {
      onEngineLost: (listener) => listeners.push(listener),
      list: () => live.map((id) => ({ id })),
    };
    const adopted: { id: string; executedBy: RunEngine }[] = [];
    const store = {
      loadRunning: async () => records.filter((r) => r.status === 'running'),
      load: async (id: string) => records.find((r) => r.id === id),
    };
    const executor = {
      adopt: async (r: RunRecord, executedBy: RunEngine) => {
        r.executedBy = executedBy;
        adopted.push({ id: r.id, executedBy });
      },
    };
    const logger = new JsonLogger('test');
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    jest.spyOn(logger, 'info').mockImplementation(() => undefined);
    const takeover = new EngineTakeover({
      engines,
      store,
      executor,
      self: { kind: 'cloud', id: 'cloud-cloud', site: 'cloud' },
      logger,
      startupGraceMs: 60_000,
    });
    takeover.start();
    const lose = async (engine: Partial<EngineAnnouncement> & { id: string }, reason: string) => {
      for (const listener of listeners) listener({ kind: 'embedded', ...engine } as EngineAnnouncement, reason);
      await new Promise((resolve) => setImmediate(resolve));
    };
    return { takeover, adopted, lose };
  }

  it('adopts the running runs of an embedded engine the tracker lost, saying from whom and why', async () => {
    const { takeover, adopted, lose } = setup([
      run('a', 'running', embedded('e1')),
      run('b', 'succeeded', embedded('e1')),
      run('c', 'running', embedded('e2')),
    ]);
    await lose({ id: 'e1' }, 'it left (clean shutdown)');
    expect(adopted).toEqual([
      {
        id: 'a',
        executedBy: {
          kind: 'cloud',
          id: 'cloud-cloud',
          site: 'cloud',
          reason: 'took over from embedded engine e1: it left (clean shutdown)',
        },
      },
    ]);
    // A lost site engine's runs are its own (its store, its site): not taken over here.
    await lose({ id: 'site-x', kind: 'site' }, 'silent');
    // Lost again (it came back and left again): nothing of it is running any more, nothing adopted twice.
    await lose({ id: 'e1' }, 'it left (clean shutdown)');
    expect(adopted.map((a) => a.id)).toEqual(['a']);
    takeover.stop();
  });

  it('after its start, takes over runs of embedded engines that are not live', async () => {
    const { takeover, adopted } = setup(
      [run('a', 'running', embedded('dead')), run('b', 'running', embedded('alive'))],
      ['alive', 'cloud-cloud'],
    );
    await takeover.orphans();
    expect(adopted).toEqual([
      expect.objectContaining({
        id: 'a',
        executedBy: expect.objectContaining({
          reason: 'took over from embedded engine dead: it was not announcing when this orchestrator started',
        }),
      }),
    ]);
    takeover.stop();
  });
});
