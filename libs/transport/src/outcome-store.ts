import { Kvm, type KV } from '@nats-io/kv';
import { OUTCOME_BUCKET, type StoredOutcome } from '@yunbian/contracts';
import { createKv } from './durability';
import type { NatsTransport } from './nats-transport';

export { OUTCOME_BUCKET, type StoredOutcome } from '@yunbian/contracts';

/** An idempotency key (`run:step[item]:attempt`) as a KV key: base64url, which KV keys accept whole. */
export function outcomeKey(idempotencyKey: string): string {
  return Buffer.from(idempotencyKey, 'utf8').toString('base64url');
}

/**
 * Outcomes of requests by idempotency key in the JetStream KV bucket `yb-outcomes`, each
 * kept for the bucket's window (its `max_age`): workers of services that declare
 * `durableResults` write each one before they reply, any instance answers a repeated key
 * from it, and an engine that restarts reads the outcomes of its outstanding attempts
 * before it sends them again.
 */
export class OutcomeStore {
  private constructor(
    private readonly kv: KV,
    private readonly maxBytes: number,
  ) {}

  /** Opens (or creates, with the process's replica setting) the bucket; `windowMs` is its `max_age` when created. */
  static async open(transport: NatsTransport, windowMs: number): Promise<OutcomeStore> {
    const kv = await createKv(new Kvm(transport.jetstream()), OUTCOME_BUCKET, { history: 1, ttl: windowMs });
    // Room for headers and framing below the server's message limit.
    return new OutcomeStore(kv, transport.maxPayload - 4096);
  }

  /** Keeps an outcome; false (nothing kept) when it is larger than a message. */
  async put(idempotencyKey: string, outcome: StoredOutcome): Promise<boolean> {
    const json = JSON.stringify(outcome);
    if (Buffer.byteLength(json) > this.maxBytes) return false;
    await this.kv.put(outcomeKey(idempotencyKey), json);
    return true;
  }

  async get(idempotencyKey: string): Promise<StoredOutcome | undefined> {
    const entry = await this.kv.get(outcomeKey(idempotencyKey));
    if (!entry || entry.operation !== 'PUT') return undefined;
    return entry.json<StoredOutcome>();
  }
}
