import { YunbianMetrics } from '@yunbian/observability';
import type { RunRecord } from '@yunbian/workflow';
import {
  AppliedFacts,
  applySiteFact,
  factsToResend,
  parseSiteFact,
  runFinishedFact,
  runStartedFact,
} from './site-facts';

const source = { site: 'factory-sz', engine: 'site-factory-sz' };

function run(id: string, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    workflow: { name: 'inspect', version: 1 },
    definition: { name: 'inspect', version: 1, steps: [] },
    durability: 'durable',
    status: 'succeeded',
    input: {},
    steps: {
      a: {
        status: 'succeeded',
        tasks: [
          {
            index: null,
            status: 'succeeded',
            next: 'primary',
            attemptBase: 0,
            attempts: [
              {
                n: 1,
                purpose: 'primary',
                target: 'echo@^1',
                service: 'echo@1.0.0',
                instanceId: 'i-1',
                nodeId: 'edge-box',
                idempotencyKey: `${id}:a:1`,
                queuedAt: '2025-01-01T00:00:00.000Z',
                startedAt: '2025-01-01T00:00:00.000Z',
                finishedAt: '2025-01-01T00:00:00.300Z',
                error: { code: 'TIMEOUT', message: 'no reply' },
              },
              {
                n: 2,
                purpose: 'primary',
                target: 'echo@^1',
                service: 'echo@1.0.0',
                instanceId: 'i-1',
                nodeId: 'edge-box',
                idempotencyKey: `${id}:a:2`,
                queuedAt: '2025-01-01T00:00:00.300Z',
                startedAt: '2025-01-01T00:00:00.300Z',
                finishedAt: '2025-01-01T00:00:00.420Z',
              },
              // Refused by placement: it never reached an instance.
              {
                n: 3,
                purpose: 'fallback',
                target: 'echo@^2',
                idempotencyKey: `${id}:a:3`,
                queuedAt: '2025-01-01T00:00:00.420Z',
              },
            ],
          },
        ],
      },
    },
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:01.000Z',
    finishedAt: '2025-01-01T00:00:01.000Z',
    depth: 0,
    executedBy: { kind: 'site', id: source.engine, site: source.site, reason: 'all steps place here' },
    ...overrides,
  };
}

describe('site run facts', () => {
  it('a finished run gives its status and every attempt that reached an instance, with an id stable per ending', () => {
    const fact = runFinishedFact(run('r1'), source);
    expect(fact).toMatchObject({
      id: 'r1.finished.2025-01-01T00:00:01.000Z',
      kind: 'finished',
      site: 'factory-sz',
      workflow: 'inspect',
      status: 'succeeded',
    });
    expect(fact.steps).toEqual([
      { service: 'echo@1.0.0', node: 'edge-box', outcome: 'TIMEOUT', durationMs: 300 },
      { service: 'echo@1.0.0', node: 'edge-box', outcome: 'ok', durationMs: 120 },
    ]);
    expect(runFinishedFact(run('r1'), source).id).toBe(fact.id);
    // A retried run that ends again is another fact.
    expect(runFinishedFact(run('r1', { finishedAt: '2025-01-01T00:05:00.000Z' }), source).id).not.toBe(fact.id);
    expect(runStartedFact(run('r1'), source).id).toBe('r1.started');
  });

  it('after a restart, resends the facts of recent runs of this engine only', () => {
    const now = Date.parse('2025-01-01T00:03:00.000Z');
    const runs = [
      run('recent'),
      run('running', { status: 'running', finishedAt: undefined, createdAt: '2025-01-01T00:02:30.000Z' }),
      run('old', { createdAt: '2024-12-31T23:00:00.000Z', finishedAt: '2024-12-31T23:00:01.000Z' }),
      run('cloud', { executedBy: { kind: 'cloud', id: 'cloud-cloud', reason: 'x' } }),
    ];
    expect(factsToResend(runs, source, now, 5 * 60_000).map((f) => f.id)).toEqual([
      'recent.started',
      'recent.finished.2025-01-01T00:00:01.000Z',
      'running.started',
    ]);
  });

  it('counts a fact once, labelled with its site, and recognises a repeat by id', () => {
    const metrics = new YunbianMetrics({ processMetrics: false });
    const applied = new AppliedFacts(2);
    const facts = [runStartedFact(run('r1'), source), runFinishedFact(run('r1'), source)];
    for (const fact of [...facts, ...facts]) if (applied.first(fact.id)) applySiteFact(metrics, fact);
    return metrics.render().then((text) => {
      expect(text).toContain('yunbian_site_workflow_runs_started_total{site="factory-sz",workflow="inspect"} 1');
      expect(text).toContain(
        'yunbian_site_workflow_runs_total{site="factory-sz",workflow="inspect",status="succeeded"} 1',
      );
      expect(text).toContain(
        'yunbian_site_step_duration_seconds_count{site="factory-sz",service="echo@1.0.0",node="edge-box",outcome="TIMEOUT"} 1',
      );
      // Bounded: the oldest id goes first.
      applied.first('third');
      expect(applied.first(facts[0].id)).toBe(true);
    });
  });

  it('refuses what is not a fact, saying what one needs', () => {
    expect(() => parseSiteFact({ id: 'x', kind: 'finished', site: 's', workflow: 'w' })).toThrow(
      'needs id, site, workflow, kind started|finished, and status when finished',
    );
    const fact = runFinishedFact(run('r1'), source);
    expect(parseSiteFact(JSON.parse(JSON.stringify(fact)))).toEqual(fact);
  });
});
