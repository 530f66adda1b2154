import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

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
