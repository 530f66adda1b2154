import { triggerId, type TriggerDefinition } from './definition';
import {
  nextFire,
  scheduleProblem,
  streamNameProblem,
  subjectProblem,
  triggerConcurrency,
  triggerInput,
  triggerIssues,
  triggerRunId,
  type TriggerEvent,
} from './triggers';

const event = (extra: Partial<TriggerEvent> = {}): TriggerEvent => ({
  kind: 'stream',
  trigger: 'orders',
  data: { order: 42, items: [1, 2] },
  subject: 'orders.created',
  stream: 'ORDERS',
  seq: 17,
  firedAt: '2026-01-01T00:00:00.000Z',
  ...extra,
});

describe('trigger helpers', () => {
  it('reads subjects: wildcards where they may be, nothing empty or spaced', () => {
    expect(subjectProblem('sensors.*.reading')).toBeUndefined();
    expect(subjectProblem('sensors.>')).toBeUndefined();
    expect(subjectProblem('>')).toBeUndefined();
    expect(subjectProblem('a.>.b')).toMatch(/> for the last ones/);
    expect(subjectProblem('a b')).toMatch(/whitespace/);
    expect(subjectProblem('.a')).toMatch(/none empty/);
    expect(subjectProblem('a.*', false)).toMatch(/not allowed/);
    expect(streamNameProblem('ORDERS')).toBeUndefined();
    expect(streamNameProblem('A.B')).toMatch(/no whitespace/);
  });

  it('computes fires from a cron expression in a time zone, with seconds when 6 fields', () => {
    const after = new Date('2026-03-01T10:00:00.400Z');
    expect(nextFire('* * * * * *', undefined, after)?.toISOString()).toBe('2026-03-01T10:00:01.000Z');
    expect(nextFire('0 12 * * *', 'UTC', after)?.toISOString()).toBe('2026-03-01T12:00:00.000Z');
    // 12:00 in Berlin is 11:00 UTC in winter.
    expect(nextFire('0 12 * * *', 'Europe/Berlin', after)?.toISOString()).toBe('2026-03-01T11:00:00.000Z');
    expect(scheduleProblem('*/5 * * * *')).toBeUndefined();
    expect(scheduleProblem('not cron')?.field).toBe('schedule');
    expect(scheduleProblem('* * * * *', 'Nowhere/Land')?.field).toBe('timezone');
  });

  it('derives run ids, ids and concurrency defaults', () => {
    expect(triggerRunId('ingest', 'orders', 17)).toBe('ingest.orders.17');
    const stream: TriggerDefinition = { stream: 'ORDERS' };
    expect(triggerId(stream, 2)).toBe('stream-2');
    expect(triggerId({ id: 'x', schedule: '* * * * *' }, 0)).toBe('x');
    expect(triggerConcurrency(stream)).toBe(16);
    expect(triggerConcurrency({ schedule: '* * * * *' })).toBe(1);
    expect(triggerConcurrency({ subject: 'a', concurrency: 3 })).toBe(3);
  });

  it('maps the event to the run input: the message body by default, a mapping over $trigger when given', async () => {
    expect(await triggerInput({ stream: 'ORDERS' }, event())).toEqual({ order: 42, items: [1, 2] });
    expect(
      await triggerInput(
        { stream: 'ORDERS', input: { order: '=$trigger.data.order', seq: '=$trigger.seq', n: '=$count(data.items)' } },
        event(),
      ),
    ).toEqual({ order: 42, seq: 17, n: 2 });
    expect(await triggerInput({ subject: 'a', input: '$trigger.subject' }, event())).toBe('orders.created');
    const fire = event({ kind: 'schedule', data: undefined, scheduledAt: '2026-01-01T00:00:00.000Z' });
    expect(await triggerInput({ schedule: '* * * * *' }, fire)).toEqual({
      firedAt: fire.firedAt,
      scheduledAt: fire.scheduledAt,
    });
  });
});

describe('samples triggers', () => {
  const wf = (samples: unknown) =>
    ({ name: 'w', steps: [{ id: 'a', service: 'x@1' }], triggers: [{ site: 'factory-a', samples }] }) as never;

  it('accepts a collection with count and window', () => {
    expect(triggerIssues(wf({ dataset: 'hard-a', count: 50, windowSeconds: 600 }))).toEqual([]);
  });

  it('names what is wrong with pointers', () => {
    expect(triggerIssues(wf({ dataset: 'a.b', count: 0, windowSeconds: -1, minLabelled: 3 }))).toEqual([
      { pointer: '/triggers/0/samples/dataset', message: expect.stringContaining('collection') },
      { pointer: '/triggers/0/samples/count', message: expect.stringContaining('≥ 1') },
      { pointer: '/triggers/0/samples/windowSeconds', message: expect.stringContaining('> 0') },
      { pointer: '/triggers/0/samples/minLabelled', message: 'minLabelled only goes with accuracyBelow' },
    ]);
    expect(triggerIssues(wf({ dataset: 'd', accuracyBelow: 2 }))[0]).toMatchObject({
      pointer: '/triggers/0/samples/accuracyBelow',
    });
  });

  it('refuses a samples trigger that also names a stream', () => {
    const def = { name: 'w', steps: [], triggers: [{ samples: { dataset: 'd' }, stream: 'S' }] } as never;
    expect(triggerIssues(def)[0].message).toContain('exactly one of subject, stream, schedule or samples');
  });
});
