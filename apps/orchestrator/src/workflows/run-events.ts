/**
 * `GET /runs/{id}/events`: a run's state changes as server-sent events, so a client follows a
 * run without polling it. Pure helpers here; the route (workflows.controller.ts) reads the run
 * every `RUN_EVENTS_POLL_MS` and sends what changed.
 */

export const RUN_EVENTS_POLL_MS = 250;
/** A comment line this often keeps proxies from closing an idle stream. */
export const RUN_EVENTS_KEEPALIVE_MS = 15_000;

interface RunLike {
  status: string;
  /** As GET /runs/{id} shows them: each step's state and number of attempts. */
  steps?: { id: string; state?: string; attempts?: number }[];
}

/**
 * What identifies a run's state for the stream: its status and each step's state and number of
 * attempts. Two reads with the same fingerprint send nothing.
 */
export function runFingerprint(run: RunLike): string {
  const steps = (run.steps ?? []).map((s) => `${s.id}:${s.state ?? ''}:${s.attempts ?? 0}`).sort();
  return `${run.status}|${steps.join(',')}`;
}

/** One server-sent event (`event:` and `data:` lines, a blank line after). */
export function sseEvent(event: string, data: unknown, id?: number): string {
  const lines = JSON.stringify(data)
    .split('\n')
    .map((l) => `data: ${l}`);
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\n${lines.join('\n')}\n\n`;
}

export const isFinished = (status: string) => status !== 'running';

/** Starts a text/event-stream answer (no caching, no proxy buffering): what every SSE route sends first. */
export function startEventStream(res: { writeHead(status: number, headers: Record<string, string>): unknown }): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
}
