/** One attempt of a step, as GET /runs/{id} lists it in `steps[].history`. */
export interface AttemptView {
  item?: number;
  attempt: number;
  purpose?: string;
  tier?: number;
  service?: string;
  node?: string;
  instance?: string;
  model?: string;
  childRun?: string;
  queuedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  error?: { code?: string; message?: string };
  abandoned?: boolean;
  placement?: unknown;
}

/** A bar of the timeline: one attempt, placed in percent of the run's span. */
export interface GanttBar {
  step: string;
  attempt: AttemptView;
  /** Percent of the span from its start. */
  left: number;
  width: number;
  outcome: 'ok' | 'failed' | 'running' | 'abandoned';
  label: string;
  /** Line of its row the bar is drawn on: attempts that overlap in time (forEach items, parallel steps) get lines of their own. */
  lane: number;
}

/** A row of the timeline: the attempts one node ran (`(not placed)` for attempts without a node). */
export interface GanttRow {
  node: string;
  bars: GanttBar[];
  /** Lines the row needs (at least 1). */
  lanes: number;
}

export interface Gantt {
  startMs: number;
  endMs: number;
  rows: GanttRow[];
}

/** Bars narrower than this (percent) are widened so they stay visible and clickable. */
const MIN_WIDTH = 0.8;

const time = (iso: string | undefined): number | undefined => {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
};

function outcomeOf(a: AttemptView): GanttBar['outcome'] {
  if (a.abandoned) return 'abandoned';
  if (a.error) return 'failed';
  return a.finishedAt ? 'ok' : 'running';
}

/**
 * Lays out the attempts of a run's steps per node: rows in the order nodes first appear,
 * bars from when an attempt was queued (else started) to when it finished (else `nowMs`, for
 * attempts still running). Retries, escalations and tier attempts are bars of their own; the
 * label says which.
 */
export function ganttOf(steps: readonly { id: string; history?: readonly AttemptView[] }[], nowMs: number): Gantt {
  const spans: { step: string; attempt: AttemptView; from: number; to: number }[] = [];
  for (const step of steps) {
    for (const attempt of step.history ?? []) {
      const from = time(attempt.queuedAt) ?? time(attempt.startedAt);
      if (from === undefined) continue;
      const to = Math.max(from, time(attempt.finishedAt) ?? nowMs);
      spans.push({ step: step.id, attempt, from, to });
    }
  }
  if (spans.length === 0) return { startMs: nowMs, endMs: nowMs, rows: [] };
  const startMs = Math.min(...spans.map((s) => s.from));
  const endMs = Math.max(...spans.map((s) => s.to), startMs + 1);
  const span = endMs - startMs;
  const rows = new Map<string, GanttRow>();
  for (const s of spans) {
    const node = s.attempt.node ?? '(not placed)';
    if (!rows.has(node)) rows.set(node, { node, bars: [], lanes: 1 });
    const width = Math.max(((s.to - s.from) / span) * 100, MIN_WIDTH);
    // A widened bar at the end of the run moves left rather than out of the track.
    const left = Math.min(((s.from - startMs) / span) * 100, 100 - width);
    rows.get(node)!.bars.push({
      lane: 0,
      step: s.step,
      attempt: s.attempt,
      left,
      width,
      outcome: outcomeOf(s.attempt),
      label: barLabel(s.step, s.attempt),
    });
  }
  for (const row of rows.values()) row.lanes = assignLanes(row.bars);
  return { startMs, endMs, rows: [...rows.values()] };
}

/** `shout #2 (retry)`, `classify[3] tier 1`: the step, the item of a forEach, the attempt and why it ran. */
export function barLabel(step: string, a: AttemptView): string {
  const parts = [`${step}${a.item !== undefined ? `[${a.item}]` : ''}`];
  if (a.attempt > 1) parts.push(`#${a.attempt}`);
  if (a.tier !== undefined) parts.push(`tier ${a.tier}`);
  if (a.purpose && a.purpose !== 'primary') parts.push(`(${a.purpose})`);
  return parts.join(' ');
}

/**
 * Puts each bar on the first line where it overlaps no other (bars taken in order of their
 * start; the classic greedy interval partitioning, which uses as few lines as the most bars
 * overlapping at one time). Returns the number of lines.
 */
export function assignLanes(bars: GanttBar[]): number {
  const ends: number[] = [];
  for (const bar of [...bars].sort((a, b) => a.left - b.left)) {
    let lane = ends.findIndex((end) => end <= bar.left);
    if (lane === -1) lane = ends.push(0) - 1;
    bar.lane = lane;
    ends[lane] = bar.left + bar.width;
  }
  return Math.max(ends.length, 1);
}
