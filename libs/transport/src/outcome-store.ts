import { jetstream } from '@nats-io/jetstream';
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

  /**
   * Opens (or creates, with the process's replica setting) the bucket; `windowMs` is its
   * `max_age` when created. In `domain` when given (a site engine's, on its leaf), else the
   * transport's own (`jetStreamDomain`, else the server's).
   */
  static async open(
    transport: NatsTransport,
    windowMs: number,
    options: { domain?: string } = {},
  ): Promise<OutcomeStore> {
    const js = options.domain ? jetstream(transport.connection, { domain: options.domain }) : transport.jetstream();
    const kv = await createKv(new Kvm(js), OUTCOME_BUCKET, { history: 1, ttl: windowMs });
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

/**
 * A worker's outcome stores, one per JetStream domain, each opened on first use: outcomes of
 * a request that names its engine's domain (`Yb-Payload-Domain`: a site engine's, so they
 * live at the site and its engine reads them there after a restart, uplink cut or not) go
 * there, the others to the worker's own domain. A store that could not be opened is tried
 * again on the next request, so a worker started with its uplink cut needs none at start.
 */
export class DomainOutcomeStores {
  private readonly stores = new Map<string, Promise<OutcomeStore>>();

  constructor(
    private readonly transport: NatsTransport,
    private readonly windowMs: number,
  ) {}

  /** The store of `domain` (undefined or empty: the worker's own). */
  store(domain?: string): Promise<OutcomeStore> {
    const key = domain ?? '';
    let store = this.stores.get(key);
    if (!store) {
      store = OutcomeStore.open(this.transport, this.windowMs, domain ? { domain } : {});
      store.catch(() => this.stores.delete(key));
      this.stores.set(key, store);
    }
    return store;
  }

  async get(idempotencyKey: string, domain?: string): Promise<StoredOutcome | undefined> {
    return (await this.store(domain)).get(idempotencyKey);
  }

  async put(idempotencyKey: string, outcome: StoredOutcome, domain?: string): Promise<boolean> {
    return (await this.store(domain)).put(idempotencyKey, outcome);
  }
}
