import { registrySyncPlan } from './registry-sync';

describe('registrySyncPlan', () => {
  it('fetches the hub keys the copy lacks and drops the ones the hub deleted', () => {
    expect(registrySyncPlan(['wf.a.1', 'wf.b.1', 'wf.b.2'], ['wf.a.1', 'wf.b.2', 'wf.c.1', 'wf.a.2'])).toEqual({
      fetch: ['wf.a.2', 'wf.c.1'],
      drop: ['wf.b.1'],
    });
  });

  it('an empty copy fetches everything; an empty hub drops everything; equal sets change nothing', () => {
    expect(registrySyncPlan([], ['wf.a.1'])).toEqual({ fetch: ['wf.a.1'], drop: [] });
    expect(registrySyncPlan(['wf.a.1'], [])).toEqual({ fetch: [], drop: ['wf.a.1'] });
    expect(registrySyncPlan(['wf.a.1'], ['wf.a.1'])).toEqual({ fetch: [], drop: [] });
  });
});
