import { isFinished, runFingerprint, sseEvent } from './run-events';

describe('run events', () => {
  it('changes the fingerprint when the run or a step changes status or gains an attempt', () => {
    const run = {
      status: 'running',
      steps: [
        { id: 'a', state: 'running', attempts: 1 },
        { id: 'b', state: 'pending', attempts: 0 },
      ],
    };
    const same = {
      status: 'running',
      steps: [
        { id: 'b', state: 'pending', attempts: 0 },
        { id: 'a', state: 'running', attempts: 1 },
      ],
    };
    expect(runFingerprint(same)).toBe(runFingerprint(run));
    expect(runFingerprint({ ...run, status: 'succeeded' })).not.toBe(runFingerprint(run));
    const retried = { ...run, steps: [{ id: 'a', state: 'running', attempts: 2 }, run.steps[1]!] };
    expect(runFingerprint(retried)).not.toBe(runFingerprint(run));
    const started = { ...run, steps: [run.steps[0]!, { id: 'b', state: 'running', attempts: 1 }] };
    expect(runFingerprint(started)).not.toBe(runFingerprint(run));
  });

  it('writes events in the text/event-stream format', () => {
    expect(sseEvent('run', { status: 'running' }, 3)).toBe('id: 3\nevent: run\ndata: {"status":"running"}\n\n');
    expect(sseEvent('end', { status: 'failed' })).toBe('event: end\ndata: {"status":"failed"}\n\n');
  });

  it('a run is finished once it is not running', () => {
    expect(isFinished('running')).toBe(false);
    for (const s of ['succeeded', 'failed', 'cancelled']) expect(isFinished(s)).toBe(true);
  });
});
