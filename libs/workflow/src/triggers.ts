import { Cron } from 'croner';
import type { SchemaIssue } from '@yunbian/common';
import {
  DEFAULT_TRIGGER_CONCURRENCY,
  triggerId,
  triggerKind,
  type SamplesTrigger,
  type TriggerDefinition,
  type TriggerKind,
  type WorkflowDefinition,
} from './definition';
import { evaluateMapping, mappingExpressions } from './mapping';

/**
 * What a trigger's `input` mapping sees as `$trigger` (and as the context root): the message
 * that arrived, or the schedule's fire.
 */
export interface TriggerEvent {
  kind: TriggerKind;
  /** The trigger's id. */
  trigger: string;
  /** Message body: its JSON value, or its text when it is not JSON; absent for schedules. */
  data?: unknown;
  /** Subject the message was published on. */
  subject?: string;
  headers?: Record<string, string>;
  /** Stream triggers: the stream and the message's sequence in it. */
  stream?: string;
  seq?: number;
  /** When the engine received the message or fired (ISO 8601). */
  firedAt: string;
  /** Schedule triggers: the time the schedule named (ISO 8601). */
  scheduledAt?: string;
}

const KINDS: TriggerKind[] = ['subject', 'stream', 'schedule', 'samples'];
const ONLY: Record<string, TriggerKind> = { filter: 'stream', from: 'stream', timezone: 'schedule' };

/** Why a NATS subject is unusable, or undefined. `*` and a final `>` are allowed when `wildcards`. */
export function subjectProblem(subject: string, wildcards = true): string | undefined {
  if (/\s/.test(subject)) return 'a subject has no whitespace';
  const tokens = subject.split('.');
  for (const [i, token] of tokens.entries()) {
    if (token === '') return 'a subject is dot-separated tokens, none empty (e.g. sensors.*.reading)';
    if (token === '*' || (token === '>' && i === tokens.length - 1)) {
      if (!wildcards) return 'wildcards (* and >) are not allowed here';
      continue;
    }
    if (token.includes('*') || token.includes('>'))
      return '* stands for a whole token and > for the last ones (e.g. sensors.*.reading, sensors.>)';
  }
  return undefined;
}

/** Why a JetStream stream name is unusable, or undefined. */
export function streamNameProblem(name: string): string | undefined {
  return /^[^\s.*>/\\]{1,255}$/.test(name)
    ? undefined
    : 'a stream name has no whitespace, ".", "*", ">", "/" or "\\" (e.g. SENSORS)';
}

function cron(schedule: string, timezone: string | undefined): Cron {
  return new Cron(schedule, { paused: true, timezone: timezone ?? 'Etc/UTC', mode: '5-or-6-parts' });
}

/** Why a schedule (cron expression, time zone) is unusable, or undefined. */
export function scheduleProblem(schedule: string, timezone?: string): { field: string; message: string } | undefined {
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      return { field: 'timezone', message: `unknown time zone "${timezone}" (an IANA name such as Europe/Berlin)` };
    }
  }
  try {
    if (cron(schedule, timezone).nextRun() === null) return { field: 'schedule', message: 'never fires' };
  } catch (err) {
    return {
      field: 'schedule',
      message: `is not a cron expression croner reads (${(err as Error).message}); 5 fields "min hour day month weekday", or 6 with seconds first, e.g. "*/10 * * * * *"`,
    };
  }
  return undefined;
}

/** The schedule's next fire strictly after `after`, or undefined when there is none. */
export function nextFire(schedule: string, timezone: string | undefined, after: Date): Date | undefined {
  return cron(schedule, timezone).nextRun(after) ?? undefined;
}

/**
 * The id of the run a trigger event starts: `<workflow>.<trigger>.<key>` (the stream
 * sequence, or the scheduled time in epoch ms). Workflow names and trigger ids have no `.`,
 * so ids of different triggers never collide.
 */
export function triggerRunId(workflow: string, trigger: string, key: number | string): string {
  return `${workflow}.${trigger}.${key}`;
}

export function triggerConcurrency(trigger: TriggerDefinition): number {
  return trigger.concurrency ?? DEFAULT_TRIGGER_CONCURRENCY[triggerKind(trigger)];
}

/** The run input a trigger event gives: its `input` mapping over `$trigger`, else the message body (schedules: the times). */
export async function triggerInput(trigger: TriggerDefinition, event: TriggerEvent): Promise<unknown> {
  if (trigger.input === undefined)
    return event.kind === 'schedule' ? { firedAt: event.firedAt, scheduledAt: event.scheduledAt } : (event.data ?? {});
  return evaluateMapping(trigger.input, { input: event, steps: {}, trigger: event });
}

/** Every problem of a definition's triggers beyond the schema, with pointers. */
export function triggerIssues(definition: WorkflowDefinition): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const ids = new Map<string, number>();
  for (const [i, trigger] of (definition.triggers ?? []).entries()) {
    const at = `/triggers/${i}`;
    const given = KINDS.filter((kind) => kind in trigger);
    if (given.length !== 1) {
      issues.push({
        pointer: at,
        message: `a trigger has exactly one of subject, stream, schedule or samples (got ${given.length ? given.join(' and ') : 'none'})`,
      });
      continue;
    }
    const kind = given[0];
    for (const [field, owner] of Object.entries(ONLY))
      if (field in trigger && owner !== kind)
        issues.push({ pointer: `${at}/${field}`, message: `only ${owner} triggers take ${field}` });
    const id = triggerId(trigger, i);
    const first = ids.get(id);
    if (first !== undefined)
      issues.push({
        pointer: trigger.id === undefined ? at : `${at}/id`,
        message: `duplicate trigger id "${id}" (first at /triggers/${first})`,
      });
    else ids.set(id, i);

    if ('subject' in trigger) {
      const problem = subjectProblem(trigger.subject);
      if (problem) issues.push({ pointer: `${at}/subject`, message: `${problem} (got "${trigger.subject}")` });
    } else if ('stream' in trigger) {
      const problem = streamNameProblem(trigger.stream);
      if (problem) issues.push({ pointer: `${at}/stream`, message: `${problem} (got "${trigger.stream}")` });
      const filter = trigger.filter === undefined ? undefined : subjectProblem(trigger.filter);
      if (filter) issues.push({ pointer: `${at}/filter`, message: `${filter} (got "${trigger.filter}")` });
    } else if ('samples' in trigger) {
      issues.push(...samplesTriggerIssues(trigger.samples, `${at}/samples`));
    } else {
      const problem = scheduleProblem(trigger.schedule, trigger.timezone);
      if (problem) issues.push({ pointer: `${at}/${problem.field}`, message: problem.message });
    }
  }
  return issues;
}

/** What is wrong with a samples trigger's fields beyond the schema (pointers under `at`). */
export function samplesTriggerIssues(spec: SamplesTrigger['samples'], at: string): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  if (typeof spec?.dataset !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(spec.dataset))
    issues.push({
      pointer: `${at}/dataset`,
      message: `must name a collection (1-128 letters, digits, "_" or "-"; a tiered step's collect.dataset), got ${JSON.stringify(spec?.dataset)}`,
    });
  if (spec?.count !== undefined && (!Number.isInteger(spec.count) || spec.count < 1))
    issues.push({ pointer: `${at}/count`, message: `must be a whole number ≥ 1 of new samples (got ${spec.count})` });
  if (spec?.windowSeconds !== undefined && !(spec.windowSeconds > 0))
    issues.push({
      pointer: `${at}/windowSeconds`,
      message: `must be a number of seconds > 0, or left out to count every sample since the last fire (got ${spec.windowSeconds})`,
    });
  if (spec?.accuracyBelow !== undefined && !(spec.accuracyBelow >= 0 && spec.accuracyBelow <= 1))
    issues.push({
      pointer: `${at}/accuracyBelow`,
      message: `is a share of right answers, 0..1 (got ${spec.accuracyBelow})`,
    });
  if (spec?.minLabelled !== undefined && spec.accuracyBelow === undefined)
    issues.push({ pointer: `${at}/minLabelled`, message: 'minLabelled only goes with accuracyBelow' });
  return issues;
}

/** The expressions of the triggers' input mappings, with their pointers. */
export function triggerExpressions(definition: WorkflowDefinition) {
  return (definition.triggers ?? []).flatMap((t, i) => mappingExpressions(t.input, `/triggers/${i}/input`));
}
