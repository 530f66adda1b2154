import type { Msg, Subscription } from '@nats-io/transport-node';
import type { SubjectTrigger } from '@yunbian/workflow';
import { RunningTrigger } from './running-trigger';
import { decodeBody, queueGroup } from './trigger-plan';

/** Headers of a message as plain fields (first value of each). */
export function headersOf(msg: {
  headers?: { keys(): string[]; get(key: string): string };
}): Record<string, string> | undefined {
  if (!msg.headers) return undefined;
  const out: Record<string, string> = {};
  for (const key of msg.headers.keys()) out[key] = msg.headers.get(key);
  return out;
}

/**
 * Core NATS subject: at most once. The engines of the trigger's site share a queue group,
 * so one of them takes each message; a message that arrives while `concurrency` runs are in
 * flight is dropped and counted (a stream trigger waits instead).
 */
export class RunningSubjectTrigger extends RunningTrigger {
  private subscription?: Subscription;

  private get subject(): string {
    return (this.definition as SubjectTrigger).subject;
  }

  async start(): Promise<void> {
    this.adoptRunning(`${this.workflow.name}.${this.id}.`);
    this.subscription = this.context.transport.connection.subscribe(this.subject, {
      queue: queueGroup(this.workflow.name, this.id),
      callback: (err, msg) => {
        if (err) {
          this.notRunning(`subscription to ${this.subject} failed: ${err.message}`);
          return;
        }
        this.receive(msg);
      },
    });
    this.active();
  }

  private receive(msg: Msg): void {
    if (this.stopped || !this.tryAcquire()) return;
    const headers = headersOf(msg);
    void this.fire({
      kind: 'subject',
      trigger: this.id,
      data: decodeBody(msg.data),
      subject: msg.subject,
      ...(headers ? { headers } : {}),
      firedAt: new Date().toISOString(),
    }).catch(() => undefined);
  }

  override async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    await super.stop();
  }
}
