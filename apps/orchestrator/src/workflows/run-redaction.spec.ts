import { isSiteRef } from '@yunbian/contracts';
import { createRun, type RunRecord, type WorkflowDefinition } from '@yunbian/workflow';
import { recordTiers, redactForCloud, redactToFit, runDataTier, stepDataTier } from './run-redaction';

const definition = (extra: Partial<WorkflowDefinition> = {}): WorkflowDefinition & { version: number } => ({
  name: 'inspect',
  version: 1,
  steps: [
    { id: 'capture', service: 'camera@^1', input: {}, placement: { dataTier: 'edge-private' } },
    { id: 'count', service: 'counter@^1', input: {} },
  ],
  ...extra,
});

/** A finished two-step run: `capture` edge-private (its own hint), `count` public. */
function finishedRun(extra: Partial<RunRecord> = {}, def = definition()): RunRecord {
  const run = createRun({
    id: 'run-1',
    definition: def,
    input: { frame: 'secret-frame' },
    now: new Date('2026-01-01T00:00:00Z'),
    executedBy: { kind: 'site', id: 'site-factory-sz', site: 'factory-sz', reason: 'every step placeable' },
  });
  run.status = 'succeeded';
  run.output = { faces: 3 };
  run.steps.capture = {
    status: 'succeeded',
    output: { image: 'secret-image' },
    tasks: [
      {
        index: null,
        status: 'succeeded',
        next: 'primary',
        attemptBase: 0,
        input: { frame: 'secret-frame' },
        output: { image: 'secret-image' },
        attempts: [
          { n: 1, purpose: 'primary', target: 'camera@^1', idempotencyKey: 'run-1:capture:1', queuedAt: run.createdAt },
        ],
      },
    ],
  };
  run.steps.count = {
    status: 'succeeded',
    output: { faces: 3 },
    tasks: [
      {
        index: null,
        status: 'succeeded',
        next: 'primary',
        attemptBase: 0,
        input: { n: 3 },
        output: { faces: 3 },
        attempts: [],
      },
    ],
  };
  return Object.assign(run, extra);
}

describe('data tiers of a run record', () => {
  it('a step’s tier is its own hint, else the workflow’s, else the run’s, else public', () => {
    const run = finishedRun();
    expect(stepDataTier(run, 'capture')).toBe('edge-private');
    expect(stepDataTier(run, 'count')).toBe('public');
    const byWorkflow = finishedRun({}, definition({ placement: { dataTier: 'user-private' } }));
    expect(stepDataTier(byWorkflow, 'count')).toBe('user-private');
    // The step's own hints replace the workflow's (as placement reads them): capture keeps its own.
    expect(stepDataTier(byWorkflow, 'capture')).toBe('edge-private');
    expect(stepDataTier(finishedRun({ dataTier: 'edge-private' }), 'count')).toBe('edge-private');
  });

  it('the run’s own input and output are as private as its most private step', () => {
    expect(runDataTier(finishedRun())).toBe('edge-private');
    const allPublic = finishedRun({}, definition({ steps: [{ id: 'count', service: 'counter@^1', input: {} }] }));
    expect(runDataTier(allPublic)).toBe('public');
    expect(runDataTier({ ...allPublic, dataTier: 'user-private' })).toBe('user-private');
  });
});

describe('redactForCloud', () => {
  it('replaces every value above public by a reference the site resolves, keeps public values and the rest', () => {
    const run = finishedRun();
    const redacted = redactForCloud(run, recordTiers(run));
    expect(redacted.input).toEqual({
      $ybSiteRef: {
        site: 'factory-sz',
        run: 'run-1',
        path: '/input',
        tier: 'edge-private',
        bytes: JSON.stringify(run.input).length,
      },
    });
    expect(redacted.output).toMatchObject({ $ybSiteRef: { path: '/output', tier: 'edge-private' } });
    expect(redacted.steps.capture.output).toMatchObject({ $ybSiteRef: { path: '/steps/capture/output' } });
    expect(redacted.steps.capture.tasks[0].input).toMatchObject({
      $ybSiteRef: { path: '/steps/capture/tasks/0/input', tier: 'edge-private' },
    });
    expect(redacted.steps.capture.tasks[0].output).toMatchObject({
      $ybSiteRef: { path: '/steps/capture/tasks/0/output' },
    });
    // The public step's values leave the site as they are.
    expect(redacted.steps.count.output).toEqual({ faces: 3 });
    expect(redacted.steps.count.tasks[0].input).toEqual({ n: 3 });
    // Nothing private is left anywhere in the record that leaves.
    expect(JSON.stringify(redacted)).not.toMatch(/secret/);
    // Status, times, attempts and the definition are kept.
    expect(redacted).toMatchObject({ id: 'run-1', status: 'succeeded', executedBy: { site: 'factory-sz' } });
    expect(redacted.steps.capture.tasks[0].attempts).toEqual(run.steps.capture.tasks[0].attempts);
    expect(redacted.definition).toBe(run.definition);
  });

  it('does not change the record it is given', () => {
    const run = finishedRun();
    const before = JSON.stringify(run);
    redactForCloud(run, recordTiers(run));
    expect(JSON.stringify(run)).toBe(before);
  });

  it('references forEach items, primary outputs and the input of an attempt still out', () => {
    const run = finishedRun();
    Object.assign(run.steps.capture, { items: ['secret-a', 'secret-b'] });
    run.steps.capture.tasks[0].primaryOutput = { image: 'secret-small' };
    Object.assign(run.steps.capture.tasks[0].attempts[0], { input: { frame: 'secret-frame' } });
    const answers = [{ tier: 0, model: 'digits@1' }];
    run.steps.capture.tasks[0].tiers = {
      tier: 0,
      rows: [0],
      samples: 1,
      answers,
      outputs: { probabilities: { dims: [1, 1], float32: 'secret-tensor' } },
      decision: 'probabilities',
      counts: [],
    };
    const redacted = redactForCloud(run, recordTiers(run));
    expect(JSON.stringify(redacted)).not.toMatch(/secret/);
    // Which tier answered which sample leaves the site; the merged tensors do not.
    expect(redacted.steps.capture.tasks[0].tiers?.answers).toEqual(answers);
    expect(redacted.steps.capture.tasks[0].tiers?.outputs).toMatchObject({
      $ybSiteRef: { path: '/steps/capture/tasks/0/tiers/outputs' },
    });
    expect((redacted.steps.capture as { items?: unknown }).items).toMatchObject({
      $ybSiteRef: { path: '/steps/capture/items' },
    });
    expect((redacted.steps.capture.tasks[0].attempts[0] as { input?: unknown }).input).toMatchObject({
      $ybSiteRef: { path: '/steps/capture/tasks/0/attempts/0/input' },
    });
  });

  it('a payload reference counts as the size of the value it names; undefined values stay undefined', () => {
    const run = finishedRun({
      input: { $ybRef: { bucket: 'yb-payloads', name: 'run-1-input', bytes: 400_000, domain: 'factory-sz' } },
    });
    delete run.output;
    const redacted = redactForCloud(run, recordTiers(run));
    expect(redacted.input).toMatchObject({ $ybSiteRef: { path: '/input', bytes: 400_000 } });
    expect(isSiteRef(redacted.input)).toBe(true);
    expect('output' in redacted && redacted.output !== undefined).toBe(false);
  });

  it('takes the tiers it is given, and a site named by the caller', () => {
    const run = finishedRun();
    const redacted = redactForCloud(run, () => 'public', { site: 'store-hz' });
    expect(redacted.input).toEqual(run.input);
    const all = redactForCloud(run, () => 'user-private', { site: 'store-hz' });
    expect(all.steps.count.output).toMatchObject({ $ybSiteRef: { site: 'store-hz', tier: 'user-private' } });
  });

  it('escapes step ids in paths (JSON pointer)', () => {
    const run = finishedRun();
    run.steps['a/b'] = run.steps.count;
    const redacted = redactForCloud(run, () => 'edge-private');
    expect(redacted.steps['a/b'].output).toMatchObject({ $ybSiteRef: { path: '/steps/a~1b/output' } });
  });
});

describe('redactToFit', () => {
  it('leaves large public values at the site too until the record fits, saying they are public', () => {
    const run = finishedRun();
    run.steps.count.output = { text: 'x'.repeat(200_000) };
    run.steps.count.tasks[0].output = run.steps.count.output;
    const fitted = redactToFit(run, 64 * 1024);
    expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(64 * 1024);
    expect(fitted.steps.count.output).toMatchObject({ $ybSiteRef: { tier: 'public', bytes: 200_011 } });
    // Small public values still travel.
    expect(fitted.steps.count.tasks[0].input).toEqual({ n: 3 });
    // A record that fits is only redacted by tier.
    expect(redactToFit(finishedRun(), 64 * 1024).steps.count.output).toEqual({ faces: 3 });
  });
});
