/**
 * What `GET /workflows/{name}` says about each of a workflow's triggers, as the engine
 * answering sees it (counts are since that engine started).
 */
export type TriggerState = 'active' | 'starting' | 'not-running';

/** How one event of a trigger ended: a run started, the run existed already, over the bound, or it could not start. */
export type TriggerFireOutcome = 'started' | 'duplicate' | 'dropped' | 'failed';

export interface TriggerStatus {
  id: string;
  kind: 'subject' | 'stream' | 'schedule' | 'samples';
  /** What it listens to: the subject, `<stream>` or `<stream> (<filter>)`, the cron expression. */
  source: string;
  /** The site whose engine runs it. */
  site: string;
  state: TriggerState;
  /** Why it is not running (another site's engine runs it, the stream is missing…). */
  reason?: string;
  concurrency: number;
  /** Runs it started that are still running. */
  inFlight: number;
  runsStarted: number;
  /** Events whose run existed already (a redelivered stream message): acknowledged, not started again. */
  duplicates: number;
  /** Events not started because `concurrency` runs were in flight (subject, schedule). */
  dropped: number;
  failed: number;
  lastFiredAt?: string;
  lastRunId?: string;
  lastError?: { at: string; message: string };
  /** Schedule triggers: the next fire. */
  nextFireAt?: string;
  /** Stream triggers: the durable JetStream consumer. */
  consumer?: string;
  /** Samples triggers: the samples counted towards the next fire (in the window), and the labelled ones' accuracy. */
  pending?: { samples: number; labelled: number; accuracy?: number };
}
