import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient } from './api-client';
import { watchRun } from './watch';

/** A stand-in orchestrator: GET /runs/r1 answers the current view; /runs/r1/events streams when `sse`. */
class FakeOrchestrator {
  private server?: Server;
  private stream?: ServerResponse;
  readonly steps: { id: string; state: string }[] = [
    { id: 'a', state: 'running' },
    { id: 'b', state: 'pending' },
  ];
  status = 'running';
  reads = 0;
  streamOpened?: () => void;

  constructor(private readonly sse: boolean) {}

  async start(): Promise<ApiClient> {
    this.server = createServer((request, response) => {
      if (request.url === '/runs/r1/events') {
        if (!this.sse) return void response.writeHead(404, { 'content-type': 'application/json' }).end('{}');
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(': open\n\n');
        this.stream = response;
        this.streamOpened?.();
        return;
      }
      this.reads++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          id: 'r1',
          workflow: { name: 'wf', version: 1 },
          status: this.status,
          createdAt: new Date(0).toISOString(),
          steps: this.steps.map((s) => ({ ...s, attempts: 1, history: [] })),
        }),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return new ApiClient({ server: `http://127.0.0.1:${port}`, serverFrom: 'test' });
  }

  /** Moves the run on and, with SSE, says so on the stream. */
  advance(change: () => void): void {
    change();
    this.stream?.write(`event: run\ndata: {"status":"${this.status}"}\n\n`);
  }

  async stop(): Promise<void> {
    this.stream?.end();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('watchRun', () => {
  it('polls GET /runs/{id} when there is no event stream, printing each step once as it finishes', async () => {
    const fake = new FakeOrchestrator(false);
    const client = await fake.start();
    const lines: string[] = [];
    const watching = watchRun(client, 'r1', (l) => lines.push(l), { pollMs: 20, pollWithEventsMs: 60_000 });
    await new Promise((r) => setTimeout(r, 100));
    fake.steps[0].state = 'succeeded';
    await new Promise((r) => setTimeout(r, 100));
    fake.steps[1].state = 'failed';
    fake.status = 'failed';
    const run = await watching;
    await fake.stop();
    expect(run.status).toBe('failed');
    expect(lines).toEqual(['✓ a  succeeded', '✗ b  failed']);
    // Only re-reads could show the end: the first read saw the run running.
    expect(fake.reads).toBeGreaterThanOrEqual(2);
  });

  it('reads the run on each server-sent event when the route exists (no polling needed)', async () => {
    const fake = new FakeOrchestrator(true);
    const opened = new Promise<void>((resolve) => (fake.streamOpened = resolve));
    const client = await fake.start();
    const lines: string[] = [];
    // Polling beside the stream is set beyond the test's timeout: only events can end this watch.
    const watching = watchRun(client, 'r1', (l) => lines.push(l), { pollMs: 60_000, pollWithEventsMs: 60_000 });
    await opened;
    fake.advance(() => (fake.steps[0].state = 'succeeded'));
    fake.advance(() => {
      fake.steps[1].state = 'succeeded';
      fake.status = 'succeeded';
    });
    const run = await watching;
    await fake.stop();
    expect(run.status).toBe('succeeded');
    expect(lines).toEqual(['✓ a  succeeded', '✓ b  succeeded']);
  });
});
