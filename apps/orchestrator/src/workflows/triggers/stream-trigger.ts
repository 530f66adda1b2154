import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { TriggerStatus } from '@yunbian/contracts';
import { triggerRunId, type StreamTrigger } from '@yunbian/workflow';
import { RunningTrigger } from './running-trigger';
import { headersOf } from './subject-trigger';
import { consumerName, decodeBody, isPermanent } from './trigger-plan';

/** How long a delivered message may go unacknowledged before JetStream delivers it again (after a crash, say). */
export const STREAM_ACK_WAIT_MS = 10_000;
/** How often a trigger whose stream is missing (or unreachable) tries again. */
export const STREAM_RETRY_MS = 5_000;
/** A transient failure (the run store unavailable) redelivers the message after this. */
const NAK_DELAY_MS = 1_000;
const FETCH_EXPIRES_MS = 2_000;

const ms = (millis: number) => millis * 1_000_000;

/**
 * A JetStream stream, exactly once per message: a durable pull consumer per (workflow,
 * trigger) fetches only as many messages as there are free slots under `concurrency`; each
 * message starts the run whose id is derived from its stream sequence
 * (`<workflow>.<trigger>.<seq>`), and is acknowledged only once that run is stored. A
 * message delivered again (the engine died before its ack reached the server) finds its run
 * and is acknowledged without starting a second. The stream is not created here: its
 * subjects, retention and limits are the operator's; until it exists the trigger says so
 * and tries again every few seconds. Streams are those of this engine's own JetStream
 * domain: on a site engine the site's (its leaf's), where the site's devices publish.
 */
export class RunningStreamTrigger extends RunningTrigger {
  readonly consumer = consumerName(this.workflow.name, this.id);
  private loop?: Promise<void>;
  private batch?: ConsumerMessages;
  private jsm?: JetStreamManager;
  private retryTimer?: NodeJS.Timeout;
  private wakeRetry?: () => void;

  private get spec(): StreamTrigger {
    return this.definition as StreamTrigger;
  }

  async start(): Promise<void> {
    this.adoptRunning(`${this.workflow.name}.${this.id}.`);
    this.loop = this.run(await this.connect());
  }

  /** Ensures the consumer; says whether the trigger is active, or why not. */
  private async connect(): Promise<boolean> {
    try {
      await this.ensureConsumer();
      this.active();
      return true;
    } catch (err) {
      this.notRunning((err as Error).message);
      return false;
    }
  }

  /** The streams of this engine's own domain (a site engine: its site's, on its leaf). */
  private get domainOptions(): { domain?: string } {
    const domain = this.context.streamDomain;
    return domain ? { domain } : {};
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.context.transport.connection, this.domainOptions);
    return this.jsm;
  }

  /** Creates the durable consumer, or brings its filter in line with the definition. */
  private async ensureConsumer(): Promise<void> {
    const { stream, filter } = this.spec;
    const jsm = await this.manager();
    try {
      await jsm.streams.info(stream);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        throw new Error(
          `stream ${stream} does not exist: create it (for example \`nats stream add ${stream} --subjects '<subjects>'\`); the trigger starts within ${STREAM_RETRY_MS / 1_000} s once it does`,
        );
      }
      throw err;
    }
    const existing = await jsm.consumers.info(stream, this.consumer).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
      throw err;
    });
    if (!existing) {
      await jsm.consumers.add(stream, {
        durable_name: this.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: this.spec.from === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
        ack_wait: ms(STREAM_ACK_WAIT_MS),
        ...(filter ? { filter_subject: filter } : {}),
        description: `trigger ${this.id} of workflow ${this.workflow.name}`,
      });
    } else if ((existing.config.filter_subject ?? '') !== (filter ?? '')) {
      await jsm.consumers.update(stream, this.consumer, { filter_subject: filter ?? '' });
    }
  }

  /** Fetches while slots are free; falls back to retrying the consumer when the stream goes away. */
  private async run(ready: boolean): Promise<void> {
    let consumer: Consumer | undefined;
    while (!this.stopped) {
      if (!ready) {
        await this.pause(STREAM_RETRY_MS);
        if (this.stopped) break;
        ready = await this.connect();
        if (!ready) continue;
      }
      try {
        await this.waitForSlot();
        if (this.stopped) break;
        consumer ??= await jetstream(this.context.transport.connection, this.domainOptions).consumers.get(
          this.spec.stream,
          this.consumer,
        );
        this.batch = await consumer.fetch({ max_messages: this.freeSlots, expires: FETCH_EXPIRES_MS });
        for await (const msg of this.batch) {
          // Stopping: handed back at once, to whichever engine runs the trigger next.
          if (this.stopped) {
            msg.nak();
            continue;
          }
          this.acquire();
          void this.handle(msg);
        }
      } catch (err) {
        if (this.stopped) break;
        ready = false;
        consumer = undefined;
        this.notRunning(`fetching from stream ${this.spec.stream} failed: ${(err as Error).message}`);
      }
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    const headers = headersOf(msg);
    try {
      await this.fire(
        {
          kind: 'stream',
          trigger: this.id,
          data: decodeBody(msg.data),
          subject: msg.subject,
          ...(headers ? { headers } : {}),
          stream: this.spec.stream,
          seq: msg.seq,
          firedAt: new Date().toISOString(),
        },
        triggerRunId(this.workflow.name, this.id, msg.seq),
      );
      msg.ack();
    } catch (err) {
      if (isPermanent(err)) msg.term((err as Error).message.slice(0, 200));
      else msg.nak(NAK_DELAY_MS);
    }
  }

  private pause(millis: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeRetry = resolve;
      this.retryTimer = setTimeout(resolve, millis);
    });
  }

  protected override extraStatus(): Partial<TriggerStatus> {
    return { consumer: this.consumer };
  }

  override async stop(): Promise<void> {
    await super.stop();
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    this.batch?.stop();
    await this.loop?.catch(() => undefined);
  }

  /** The trigger is gone: its consumer goes too (a trigger declared again later starts afresh). */
  override async retire(): Promise<void> {
    await this.stop();
    const jsm = await this.manager().catch(() => undefined);
    await jsm?.consumers.delete(this.spec.stream, this.consumer).catch(() => undefined);
  }
}
