import { TestCluster } from './support/cluster';

jest.setTimeout(90_000);

/** Reads a text/event-stream response to its end: the events by name, with their data. */
async function readEvents(response: Response): Promise<{ event: string; data: { status: string } }[]> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: '))
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))!.slice(7);
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      return { event, data: JSON.parse(data) as { status: string } };
    });
}

/** GET /runs/{id}/events on a real stack: a run followed to its end without polling it. */
describe('run events (server-sent events)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive({ id: 'sse-node', site: 'site-a', tier: 'edge', memoryMb: 2048, costPerHour: 0.1 });
    await cluster.deploy('echo', 'sse-node');
    const created = await cluster.call('POST', '/workflows', {
      name: 'sse-slow',
      steps: [
        { id: 'first', service: 'echo', input: { value: 1, delayMs: 600 } },
        { id: 'second', service: 'echo', input: { value: 2, delayMs: 600 }, after: ['first'] },
      ],
      output: '=$steps.second.output.value',
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('sends the run as it changes, then an end event, and closes the stream', async () => {
    const started = await cluster.call('POST', '/workflows/sse-slow/runs', { input: {} });
    expect(started.status).toBe(202);
    const id = (started.body as unknown as { id: string }).id;
    const response = await cluster.fetch(`/runs/${id}/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readEvents(response);
    const runs = events.filter((e) => e.event === 'run');
    // At least: running with the first step, running with the second, succeeded.
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs[0]!.data.status).toBe('running');
    expect(runs.at(-1)!.data.status).toBe('succeeded');
    expect(events.at(-1)).toEqual({ event: 'end', data: { id, status: 'succeeded' } });
  });

  it('GET /events: a deployed instance arrives as it changes, and its removal', async () => {
    const controller = new AbortController();
    const response = await cluster.fetch('/events', { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen: { event: string; data: { id?: string; status?: string } }[] = [];
    let buffer = '';
    const waitForEvent = async (match: (e: (typeof seen)[number]) => boolean, what: string) => {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const found = seen.find(match);
        if (found) return found;
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const blocks = buffer.split('\n\n');
        buffer = blocks.pop()!;
        for (const block of blocks) {
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) seen.push({ event, data: JSON.parse(data) });
        }
      }
      throw new Error(`no ${what} event in ${JSON.stringify(seen.map((e) => e.event))}`);
    };
    await waitForEvent((e) => e.event === 'hello', 'hello');
    const { status, body } = await cluster.call('POST', '/instances', { service: 'echo', nodeId: 'sse-node' });
    expect(status).toBe(201);
    const id = (body as unknown as { id: string }).id;
    await waitForEvent(
      (e) => e.event === 'instance' && e.data.id === id && e.data.status === 'ready',
      'ready instance',
    );
    expect((await cluster.call('DELETE', `/instances/${id}`)).status).toBeLessThan(300);
    await waitForEvent(
      (e) =>
        (e.event === 'removed' && e.data.id === id) ||
        (e.event === 'instance' && e.data.id === id && e.data.status !== 'ready'),
      'stopping or removed instance',
    );
    controller.abort();
  });

  it('answers 404 (JSON) for an unknown run and 401 without a credential', async () => {
    const unknown = await cluster.fetch('/runs/no-such-run/events');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/json/);
    const anonymous = await cluster.fetch('/runs/no-such-run/events', { headers: { authorization: '' } });
    expect(anonymous.status).toBe(401);
  });
});
