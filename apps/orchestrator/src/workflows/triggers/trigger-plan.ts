import { createHash } from 'node:crypto';
import { YunbianError } from '@yunbian/contracts';
import { triggerKind, type TriggerDefinition } from '@yunbian/workflow';
import type { EngineConfig } from '../../engine-config';

/**
 * The durable JetStream consumer of one stream trigger: `yb-trigger-<workflow>-<trigger>-<hash>`.
 * The hash of both names keeps `a-b`/`c` and `a`/`b-c` apart; the same trigger id in a new
 * version of the workflow keeps its consumer, so it goes on where the old version stopped.
 */
export function consumerName(workflow: string, trigger: string): string {
  const hash = createHash('sha256').update(`${workflow}\n${trigger}`).digest('hex').slice(0, 8);
  return `yb-trigger-${workflow}-${trigger}-${hash}`;
}

/** The queue group of a subject trigger: every engine of its site joins it, so one takes each message. */
export function queueGroup(workflow: string, trigger: string): string {
  return `yb-trigger.${workflow}.${trigger}`;
}

const decoder = new TextDecoder();

/** A message body as a trigger sees it: its JSON value, its text when it is not JSON, undefined when empty. */
export function decodeBody(data: Uint8Array): unknown {
  if (data.length === 0) return undefined;
  const text = decoder.decode(data);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Whether this engine runs a trigger: one with a `site` runs on the engine executing at that
 * site; one without, on the cloud engine. Otherwise, why not (shown in GET /workflows/{name}).
 */
export function runsHere(
  site: string | undefined,
  engine: EngineConfig,
): { here: boolean; site: string; reason?: string } {
  if (site === undefined) {
    return engine.mode === 'cloud'
      ? { here: true, site: engine.site }
      : { here: false, site: 'cloud', reason: `runs on the cloud engine; this is the site engine of ${engine.site}` };
  }
  return site === engine.site
    ? { here: true, site }
    : {
        here: false,
        site,
        reason: `runs on the engine of site ${site}; this engine (${engine.id}) executes at ${engine.site}`,
      };
}

/** Codes that will fail again however often the same event is retried (a stream message is terminated, not redelivered). */
const PERMANENT = new Set(['VALIDATION_FAILED', 'BAD_REQUEST', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE']);

/** Whether starting a run from an event failed for good (bad input, say) rather than for now (store unavailable). */
export function isPermanent(err: unknown): boolean {
  return err instanceof YunbianError ? PERMANENT.has(err.code) : false;
}

/** What a trigger listens to, in one line. */
export function triggerSource(trigger: TriggerDefinition): string {
  if ('stream' in trigger) return trigger.filter ? `${trigger.stream} (${trigger.filter})` : trigger.stream;
  if ('schedule' in trigger) return trigger.timezone ? `${trigger.schedule} (${trigger.timezone})` : trigger.schedule;
  if ('samples' in trigger) {
    const { dataset, count, windowSeconds, accuracyBelow } = trigger.samples;
    return `collection ${dataset}: ${count ?? 100} samples${windowSeconds ? ` within ${windowSeconds} s` : ''}${accuracyBelow !== undefined ? ` or accuracy < ${accuracyBelow}` : ''}`;
  }
  return trigger.subject;
}

export { triggerKind };
