import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data?: T;
  error?: string;
  /** Loads again now (after an action changed what the page shows). */
  reload: () => void;
}

/**
 * `load` now and every `intervalMs` while the component is shown (and `active` holds):
 * the console polls rather than holding an event stream open (see docs/console.md).
 * A load still in flight is not started again; the last good data stays on an error.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[], active = true): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const busy = useRef(false);
  const loadRef = useRef(load);
  loadRef.current = load;
  const run = useCallback(() => {
    if (busy.current) return;
    busy.current = true;
    loadRef
      .current()
      .then(
        (data) => setState({ data }),
        (err: Error) => setState((s) => ({ data: s.data, error: err.message })),
      )
      .finally(() => (busy.current = false));
  }, []);
  useEffect(() => {
    setState({});
    run();
    if (!active) return undefined;
    const timer = setInterval(run, intervalMs);
    return () => clearInterval(timer);
  }, [...deps, active]);
  return { ...state, reload: run };
}
