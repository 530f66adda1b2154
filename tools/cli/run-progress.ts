import { duration } from './format';
import type { RunDetail, StepView } from './resources';

const STEP_DONE = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);
const MARK: Record<string, string> = { succeeded: '✓', failed: '✗', skipped: '-', cancelled: '⊘' };

/** How `yb run --watch` ends: 0 succeeded, 1 failed, 2 cancelled (or anything else). */
export function runExitCode(status: string): number {
  if (status === 'succeeded') return 0;
  if (status === 'failed') return 1;
  return 2;
}

const errorText = (error?: { code?: string; message?: string }) =>
  error ? `${error.code ? `${error.code}: ` : ''}${error.message ?? ''}` : '';

/** One finished step as a line: mark, id, state, where it ran, attempts, time, and its error or reason. */
export function stepLine(step: StepView): string {
  const parts = [`${MARK[step.state] ?? '?'} ${step.id}`, step.state];
  if (step.items !== undefined) parts.push(`${step.items} item${step.items === 1 ? '' : 's'}`);
  if (step.node) parts.push(`on ${step.node}`);
  // Attempts beyond one per item are retries or escalations, worth showing.
  if (step.attempts > (step.items ?? 1)) parts.push(`${step.attempts} attempts`);
  const took = duration(step.startedAt, step.finishedAt);
  if (took) parts.push(took);
  let line = parts.join('  ');
  if (step.error) line += `\n    error: ${errorText(step.error)}`;
  else if (step.reason && step.state !== 'succeeded') line += `  (${step.reason})`;
  return line;
}

/**
 * The steps of `run` that finished since `printed` (ids already shown), in definition order;
 * adds them to `printed`. A watcher calls it on every fresh view of the run, so it does not
 * matter whether the view came from a poll or an event.
 */
export function newlyFinishedSteps(run: RunDetail, printed: Set<string>): StepView[] {
  const fresh = run.steps.filter((s) => STEP_DONE.has(s.state) && !printed.has(s.id));
  for (const s of fresh) printed.add(s.id);
  return fresh;
}

/** The failing step of a failed run (the first failed one), for the closing message. */
export function failingStep(run: RunDetail): StepView | undefined {
  return run.steps.find((s) => s.state === 'failed');
}

/** The last line of `yb run --watch`: how the run ended, and for a failure which step and why. */
export function runEndLine(run: RunDetail): string {
  const took = duration(run.createdAt, run.finishedAt);
  const head = `run ${run.id} ${run.status}${took ? ` in ${took}` : ''}`;
  if (run.status === 'succeeded') return head;
  const step = failingStep(run);
  if (step) return `${head}: step ${step.id} failed: ${errorText(step.error ?? run.error)}`;
  return run.error ? `${head}: ${errorText(run.error)}` : head;
}

/** `yb describe run`: the run, then each step with its attempts (where, when, what went wrong). */
export function describeRun(run: RunDetail): string {
  const lines = [
    `Run:       ${run.id}`,
    `Workflow:  ${run.workflow.name}@${run.workflow.version}`,
    `Status:    ${run.status}`,
    `Created:   ${run.createdAt}`,
  ];
  if (run.finishedAt) lines.push(`Finished:  ${run.finishedAt} (${duration(run.createdAt, run.finishedAt) ?? '?'})`);
  if (run.executedBy) lines.push(`Engine:    ${run.executedBy.kind} ${run.executedBy.id} (${run.executedBy.reason})`);
  if (run.parent) lines.push(`Parent:    run ${run.parent.runId}, step ${run.parent.stepId}`);
  if (run.traceId) lines.push(`Trace:     ${run.traceId}`);
  if (run.error) lines.push(`Error:     ${errorText(run.error)}`);
  lines.push('', 'Steps:');
  for (const step of run.steps) {
    const took = duration(step.startedAt, step.finishedAt);
    const head = [`  ${step.id}`, step.state, `${step.attempts} attempt${step.attempts === 1 ? '' : 's'}`];
    if (step.items !== undefined) head.push(`${step.items} items`);
    if (took) head.push(took);
    lines.push(head.join('  '));
    if (step.reason) lines.push(`    reason: ${step.reason}`);
    if (step.error) lines.push(`    error: ${errorText(step.error)}`);
    for (const a of step.history) {
      const where = [a.service, a.node && `on ${a.node}`, a.instance && `(${a.instance})`].filter(Boolean).join(' ');
      const item = a.item !== undefined ? `item ${a.item} ` : '';
      const time = duration(a.startedAt ?? a.queuedAt, a.finishedAt);
      const outcome = a.error
        ? `✗ ${errorText(a.error)}`
        : a.abandoned
          ? `abandoned: ${a.abandoned.reason}`
          : a.finishedAt
            ? '✓'
            : '…';
      lines.push(`    #${a.attempt} ${item}${a.purpose} ${where}${time ? ` ${time}` : ''} ${outcome}`.trimEnd());
    }
  }
  return lines.join('\n');
}

/**
 * `yb logs`: what the REST API records of a run, as time-ordered lines — the run's start and
 * end, and per attempt when it was queued, started and finished (or failed, or was abandoned).
 */
export function runLogLines(run: RunDetail): string[] {
  const events: { at: string; order: number; text: string }[] = [];
  const add = (at: string | undefined, text: string) => {
    if (at) events.push({ at, order: events.length, text });
  };
  add(run.createdAt, `run ${run.id} started (${run.workflow.name}@${run.workflow.version})`);
  for (const step of run.steps) {
    for (const a of step.history) {
      const who = `${step.id}${a.item !== undefined ? `[${a.item}]` : ''} #${a.attempt}`;
      const where = [a.service, a.node && `on ${a.node}`, a.instance && `instance ${a.instance}`]
        .filter(Boolean)
        .join(' ');
      add(a.queuedAt, `${who} queued ${a.purpose}${where ? ` ${where}` : ''}`);
      add(a.startedAt, `${who} started`);
      if (a.error) add(a.finishedAt ?? a.startedAt ?? a.queuedAt, `${who} failed: ${errorText(a.error)}`);
      else add(a.finishedAt, `${who} finished`);
      if (a.abandoned) add(a.abandoned.at, `${who} abandoned: ${a.abandoned.reason}`);
    }
    if (step.history.length === 0 && STEP_DONE.has(step.state))
      add(step.finishedAt ?? run.finishedAt, `${step.id} ${step.state}${step.reason ? `: ${step.reason}` : ''}`);
  }
  if (run.finishedAt) add(run.finishedAt, `run ${run.status}${run.error ? `: ${errorText(run.error)}` : ''}`);
  return events
    .sort((x, y) => Date.parse(x.at) - Date.parse(y.at) || x.order - y.order)
    .map((e) => `${e.at}  ${e.text}`);
}
