import type { ApiClient } from './api-client';
import type { RunDetail } from './resources';
import { newlyFinishedSteps, stepLine } from './run-progress';

/** How often the watcher reads the run: without an event stream, and beside one (in case an event is missed). */
export interface WatchTiming {
  pollMs: number;
  pollWithEventsMs: number;
}

export const WATCH_TIMING: WatchTiming = { pollMs: 300, pollWithEventsMs: 2_000 };

/**
 * Opens `GET /runs/{id}/events` (server-sent events) when the orchestrator has it, and calls
 * `onEvent` for each event; undefined when it has no such route (404/405) or answers with
 * something else, so the caller polls. Events only prompt a fresh read of the run: whatever
 * they carry, GET /runs/{id} is the one view of a run the watcher trusts.
 */
async function openEvents(client: ApiClient, id: string, onEvent: () => void): Promise<AbortController | undefined> {
  const abort = new AbortController();
  let response: Response;
  try {
    response = await client.fetch('GET', `/runs/${encodeURIComponent(id)}/events`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
  } catch {
    return undefined;
  }
  if (!response.ok || !response.body || !response.headers.get('content-type')?.includes('text/event-stream')) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  void (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        // An event ends at a blank line; comments (`: keep-alive`) are events too here, harmlessly.
        const blocks = buffered.split(/\r?\n\r?\n/);
        buffered = blocks.pop() ?? '';
        if (blocks.length) onEvent();
      }
    } catch {
      // Aborted at the end, or the stream broke: polling carries on.
    }
  })();
  return abort;
}

/**
 * Follows a run until it ends, printing each step as it finishes (`out` gets one line each),
 * and returns the finished run. Reads GET /runs/{id} every 300 ms, or on each server-sent
 * event when the orchestrator offers them (then every 2 s as well, in case one is missed).
 */
export async function watchRun(
  client: ApiClient,
  id: string,
  out: (line: string) => void,
  timing: WatchTiming = WATCH_TIMING,
): Promise<RunDetail> {
  const printed = new Set<string>();
  const route = `/runs/${encodeURIComponent(id)}`;
  let run = await client.get<RunDetail>(route);
  for (const step of newlyFinishedSteps(run, printed)) out(stepLine(step));
  if (run.status !== 'running') return run;
  let wake: (() => void) | undefined;
  let pending = false;
  const events = await openEvents(client, id, () => {
    pending = true;
    wake?.();
  });
  try {
    while (run.status === 'running') {
      if (!pending)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, events ? timing.pollWithEventsMs : timing.pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      pending = false;
      wake = undefined;
      run = await client.get<RunDetail>(route);
      for (const step of newlyFinishedSteps(run, printed)) out(stepLine(step));
    }
  } finally {
    events?.abort();
  }
  return run;
}
