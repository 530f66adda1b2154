import { useState } from 'preact/hooks';
import { api } from '../api';
import { duration, preview } from '../format';
import { ganttOf, type AttemptView } from '../gantt';
import { usePoll, useRunEvents } from '../hooks';
import type { RunEngine } from '@yunbian/workflow';

interface RunSummaryView {
  id: string;
  workflow: { name: string; version: number };
  status: string;
  createdAt: string;
  finishedAt?: string;
  traceId?: string;
  executedBy?: RunEngine;
  error?: { code?: string; message?: string; step?: string };
}

interface StepView {
  id: string;
  state: string;
  reason?: string;
  attempts: number;
  items?: number;
  node?: string;
  startedAt?: string;
  finishedAt?: string;
  error?: { message?: string };
  output?: unknown;
  tiers?: unknown;
  history: AttemptView[];
}

interface RunDetailView extends RunSummaryView {
  input?: unknown;
  output?: unknown;
  steps: StepView[];
}

const STATUSES = ['running', 'succeeded', 'failed', 'cancelled'];

/** Height of one line of a timeline row (a bar and its gap). */
const LANE_PX = 20;

/** `#/runs?workflow=x&status=failed` filters as an object. */
function filtersOf(query: string): { workflow: string; status: string } {
  const params = new URLSearchParams(query);
  return { workflow: params.get('workflow') ?? '', status: params.get('status') ?? '' };
}

/** Runs, newest first, filtered by workflow and status; a form to start one. */
export function RunsPage({ query }: { query: string }) {
  const filters = filtersOf(query);
  const search = new URLSearchParams({ limit: '100' });
  if (filters.workflow) search.set('workflow', filters.workflow);
  if (filters.status) search.set('status', filters.status);
  const runs = usePoll(() => api<RunSummaryView[]>('GET', `/runs?${search}`), 2_000, [query]);
  const workflows = usePoll(() => api<{ name: string }[]>('GET', '/workflows'), 10_000, []);
  const setFilter = (name: 'workflow' | 'status', value: string) => {
    const next = new URLSearchParams({ ...filters, [name]: value });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    location.hash = `#/runs${next.size ? `?${next}` : ''}`;
  };
  return (
    <div>
      <h1>Runs</h1>
      <StartRun workflows={(workflows.data ?? []).map((w) => w.name)} initial={filters.workflow} />
      <div class="inline filters">
        <label>
          workflow{' '}
          <select
            id="filter-workflow"
            value={filters.workflow}
            onChange={(e) => setFilter('workflow', (e.target as HTMLSelectElement).value)}
          >
            <option value="">all</option>
            {(workflows.data ?? []).map((w) => (
              <option key={w.name} value={w.name}>
                {w.name}
              </option>
            ))}
          </select>
        </label>{' '}
        <label>
          status{' '}
          <select
            id="filter-status"
            value={filters.status}
            onChange={(e) => setFilter('status', (e.target as HTMLSelectElement).value)}
          >
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {runs.error && <p class="error">{runs.error}</p>}
      <table id="runs">
        <thead>
          <tr>
            <th>run</th>
            <th>workflow</th>
            <th>status</th>
            <th>started</th>
            <th>took</th>
            <th>executed by</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          {(runs.data ?? []).map((r) => (
            <tr key={r.id} data-run={r.id}>
              <td>
                <a href={`#/runs/${encodeURIComponent(r.id)}`}>{r.id}</a>
              </td>
              <td>
                {r.workflow.name} v{r.workflow.version}
              </td>
              <td>
                <span class={`badge ${r.status}`}>{r.status}</span>
              </td>
              <td>{new Date(r.createdAt).toLocaleString()}</td>
              <td>{duration(r.createdAt, r.finishedAt)}</td>
              <td>{r.executedBy ? `${r.executedBy.kind} ${r.executedBy.site ?? r.executedBy.id}` : 'this engine'}</td>
              <td class="error">{r.error?.message ?? ''}</td>
            </tr>
          ))}
          {runs.data?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                no runs
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function StartRun({ workflows, initial }: { workflows: string[]; initial: string }) {
  const [workflow, setWorkflow] = useState(initial);
  const [input, setInput] = useState('{}');
  const [problem, setProblem] = useState<string>();
  const chosen = workflow || workflows[0] || '';
  const start = async (event: Event) => {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (err) {
      setProblem(`input is not JSON: ${(err as Error).message}`);
      return;
    }
    try {
      const run = await api<{ id: string }>('POST', `/workflows/${encodeURIComponent(chosen)}/runs`, { input: parsed });
      location.hash = `#/runs/${encodeURIComponent(run.id)}`;
    } catch (err) {
      setProblem((err as Error).message);
    }
  };
  return (
    <form class="start-run" id="start-run" onSubmit={start}>
      <label>
        start a run of{' '}
        <select id="start-workflow" value={chosen} onChange={(e) => setWorkflow((e.target as HTMLSelectElement).value)}>
          {workflows.map((w) => (
            <option key={w} value={w}>
              {w}
            </option>
          ))}
        </select>
      </label>{' '}
      <label>
        input (JSON){' '}
        <textarea
          id="start-input"
          rows={2}
          value={input}
          onInput={(e) => setInput((e.target as HTMLTextAreaElement).value)}
        />
      </label>{' '}
      <button type="submit" id="start" disabled={!chosen}>
        Start
      </button>
      {problem && <p class="error">{problem}</p>}
    </form>
  );
}

/**
 * Where a run's trace opens: Jaeger's UI on this host's port 16686 (the compose stacks' and the
 * README's Jaeger), or the base URL saved as `yunbian.traceUi` in this browser's localStorage.
 */
function traceLink(traceId: string): string {
  const base = localStorage.getItem('yunbian.traceUi') ?? `${location.protocol}//${location.hostname}:16686`;
  return `${base.replace(/\/$/, '')}/trace/${encodeURIComponent(traceId)}`;
}

/** One run: its status, a Gantt of its step attempts per node, each attempt's placement, input and output. */
export function RunPage({ id }: { id: string }) {
  // Live from the run's event stream (server-sent events), not by polling it.
  const run = useRunEvents<RunDetailView>(`/runs/${encodeURIComponent(id)}/events`, () =>
    api<RunDetailView>('GET', `/runs/${encodeURIComponent(id)}`),
  );
  const [selected, setSelected] = useState<{ step: string; attempt: AttemptView }>();
  const [message, setMessage] = useState<string>();
  if (!run.data) return <p class="muted">{run.error ?? 'Loading…'}</p>;
  const r = run.data;
  const act = async (action: 'cancel' | 'retry') => {
    try {
      await api('POST', `/runs/${encodeURIComponent(id)}/${action}`);
      setMessage(undefined);
    } catch (err) {
      setMessage((err as Error).message);
    }
    run.reload();
  };
  const gantt = ganttOf(r.steps, Date.now());
  const span = gantt.endMs - gantt.startMs;
  return (
    <div>
      <h1>
        Run <code>{r.id}</code>
      </h1>
      <p>
        <a href={`#/workflows/${encodeURIComponent(r.workflow.name)}`}>
          {r.workflow.name} v{r.workflow.version}
        </a>{' '}
        <span class={`badge ${r.status}`} id="run-status">
          {r.status}
        </span>{' '}
        started {new Date(r.createdAt).toLocaleString()}, {r.status === 'running' ? 'running for' : 'took'}{' '}
        {duration(r.createdAt, r.finishedAt)}
        {r.traceId && (
          <span>
            {' '}
            · trace{' '}
            <a href={traceLink(r.traceId)} target="_blank" rel="noreferrer" id="trace-link">
              <code>{r.traceId}</code>
            </a>
          </span>
        )}
        {r.executedBy && (
          <span class="muted">
            {' '}
            · executed by {r.executedBy.kind} {r.executedBy.site ?? r.executedBy.id}: {r.executedBy.reason}
          </span>
        )}
      </p>
      <p>
        {r.status === 'running' && (
          <button type="button" id="cancel" onClick={() => void act('cancel')}>
            Cancel
          </button>
        )}
        {(r.status === 'failed' || r.status === 'cancelled') && (
          <button type="button" id="retry" onClick={() => void act('retry')}>
            Retry
          </button>
        )}
      </p>
      {(message ?? r.error?.message) && <p class="error">{message ?? r.error?.message}</p>}
      <h2>Timeline</h2>
      <div class="gantt" id="gantt">
        {gantt.rows.map((row) => (
          <div class="gantt-row" key={row.node} style={{ height: `${row.lanes * LANE_PX + 6}px` }}>
            <div class="gantt-node">{row.node}</div>
            <div class="gantt-track" style={{ height: `${row.lanes * LANE_PX + 2}px` }}>
              {row.bars.map((bar, i) => (
                <div
                  key={i}
                  class={`gantt-bar ${bar.outcome}`}
                  style={{ left: `${bar.left}%`, width: `${bar.width}%`, top: `${bar.lane * LANE_PX + 1}px` }}
                  title={`${bar.label}: ${duration(bar.attempt.queuedAt ?? bar.attempt.startedAt, bar.attempt.finishedAt)}`}
                  onClick={() => setSelected({ step: bar.step, attempt: bar.attempt })}
                >
                  {bar.label}
                </div>
              ))}
            </div>
          </div>
        ))}
        {gantt.rows.length === 0 && <p class="muted">no attempts yet</p>}
        {gantt.rows.length > 0 && <div class="muted gantt-scale">0 – {span} ms</div>}
      </div>
      {selected && (
        <div class="attempt" id="attempt">
          <h3>
            {selected.step} attempt {selected.attempt.attempt}
            {selected.attempt.purpose && selected.attempt.purpose !== 'primary' ? ` (${selected.attempt.purpose})` : ''}
          </h3>
          <p>
            {selected.attempt.service} on {selected.attempt.node ?? '—'} instance {selected.attempt.instance ?? '—'}
            {selected.attempt.model ? `, model ${selected.attempt.model}` : ''}
            {selected.attempt.tier !== undefined ? `, tier ${selected.attempt.tier}` : ''}
          </p>
          {selected.attempt.error && <p class="error">{selected.attempt.error.message}</p>}
          <h4>Placement</h4>
          {placementReason(selected.attempt.placement) && <p>{placementReason(selected.attempt.placement)}</p>}
          <pre>{preview(selected.attempt.placement)}</pre>
        </div>
      )}
      <h2>Steps</h2>
      <table id="steps">
        <thead>
          <tr>
            <th>step</th>
            <th>state</th>
            <th>attempts</th>
            <th>items</th>
            <th>node</th>
            <th>took</th>
            <th>error / output</th>
          </tr>
        </thead>
        <tbody>
          {r.steps.map((s) => (
            <tr key={s.id} data-step={s.id}>
              <td>{s.id}</td>
              <td>
                <span class={`badge ${s.state}`}>{s.state}</span>
                {s.reason && <div class="muted">{s.reason}</div>}
              </td>
              <td>
                {s.attempts}
                {s.tiers !== undefined && (
                  <details>
                    <summary>tiers</summary>
                    <pre>{preview(s.tiers, 2_000)}</pre>
                  </details>
                )}
              </td>
              <td>{s.items === undefined ? '—' : forEachProgress(s)}</td>
              <td>{s.node ?? '—'}</td>
              <td>{duration(s.startedAt, s.finishedAt)}</td>
              <td>
                {s.error?.message && <div class="error">{s.error.message}</div>}
                {s.output !== undefined && (
                  <details>
                    <summary>output</summary>
                    <pre>{preview(s.output, 2_000)}</pre>
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="io">
        <div>
          <h2>Input</h2>
          <pre id="run-input">{preview(r.input)}</pre>
        </div>
        <div>
          <h2>Output</h2>
          <pre id="run-output">{preview(r.output)}</pre>
        </div>
      </div>
    </div>
  );
}

/** `3 / 10 done` of a forEach step: items whose last attempt finished without an error. */
function forEachProgress(step: StepView): string {
  const last = new Map<number, AttemptView>();
  for (const a of step.history) if (a.item !== undefined) last.set(a.item, a);
  const done = [...last.values()].filter((a) => a.finishedAt && !a.error).length;
  return `${done} / ${step.items} done`;
}

/** The sentence a placement explanation starts with (`reason`), when it has one. */
function placementReason(placement: unknown): string | undefined {
  const reason = (placement as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' ? reason : undefined;
}
