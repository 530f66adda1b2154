import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { followEvents } from './api';

export interface Polled<T> {
  data?: T;
  error?: string;
  /** Loads again now (after an action changed what the page shows). */
  reload: () => void;
}

/**
 * `load` now and every `intervalMs` while the component is shown and `active` holds: the
 * console polls rather than holding an event stream open (see docs/console.md). A load still
 * in flight is not started again; answers to loads made for other `deps` are dropped, and
 * the last good data stays shown on an error.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[], active = true): Polled<T> {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ data?: T; error?: string; key?: string }>({});
  const generation = useRef(0);
  const inFlight = useRef(false);
  const loadRef = useRef({ load, key });
  loadRef.current = { load, key };
  const run = useCallback(() => {
    if (inFlight.current) return;
    inFlight.current = true;
    const mine = generation.current;
    const { load: current, key: forKey } = loadRef.current;
    current()
      .then(
        (data) => mine === generation.current && setState({ data, key: forKey }),
        (err: Error) =>
          mine === generation.current &&
          setState((s) => ({ data: s.key === forKey ? s.data : undefined, error: err.message, key: forKey })),
      )
      .finally(() => mine === generation.current && (inFlight.current = false));
  }, []);
  useEffect(() => {
    // A new generation: what is in flight for the previous one no longer blocks or lands.
    generation.current++;
    inFlight.current = false;
    run();
    if (!active) return undefined;
    const timer = setInterval(run, intervalMs);
    return () => clearInterval(timer);
  }, [key, active]);
  const current = state.key === key;
  return { data: current ? state.data : undefined, error: current ? state.error : undefined, reload: run };
}

/**
 * A run as its event stream (`GET /runs/{id}/events`) sends it: each `run` event replaces
 * `data`, and the stream ends with the run. `reload` (after a cancel or retry) opens it again.
 * Should the stream fail, the run is read every second instead, so the page never freezes.
 */
export function useRunEvents<T extends { status: string }>(path: string, read: () => Promise<T>): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setInterval> | undefined;
    followEvents(
      path,
      (event) => {
        if (event.event === 'run') setState({ data: JSON.parse(event.data) as T });
      },
      controller.signal,
    ).catch((err: Error) => {
      if (controller.signal.aborted) return;
      setState((s) => ({ ...s, error: err.message }));
      const poll = () =>
        read().then(
          (data) => {
            setState({ data });
            if (data.status !== 'running' && timer) clearInterval(timer);
          },
          (e: Error) => setState((s) => ({ ...s, error: e.message })),
        );
      timer = setInterval(poll, 1_000);
      void poll();
    });
    return () => {
      controller.abort();
      if (timer) clearInterval(timer);
    };
  }, [path, generation]);
  return { ...state, reload: () => setGeneration((g) => g + 1) };
}

/**
 * Calls `onChange` (at most every 300 ms) when the catalogue changes, from its event stream
 * (`GET /events`: nodes and instances as they change); the page keeps a slow poll beside it for
 * what the stream does not carry (links, deployments) and in case the stream fails.
 */
export function useCatalogEvents(onChange: () => void): void {
  const latest = useRef(onChange);
  latest.current = onChange;
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const changed = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        latest.current();
      }, 300);
    };
    followEvents(
      '/events',
      (event) => {
        if (event.event === 'node' || event.event === 'instance' || event.event === 'removed') changed();
      },
      controller.signal,
    ).catch(() => undefined); // the poll goes on
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, []);
}
