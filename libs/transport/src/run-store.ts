import { JsHeaders, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { createKv, createObjectStore, retryingWrite } from './durability';
import type { NatsTransport } from './nats-transport';
import { YunbianError } from './errors';
import { isTerminalRun, type RunRecord } from '@yunbian/workflow';

/** Durable runs in progress (and failed or cancelled runs brought back by a retry). */
export const RUN_BUCKET = 'yb-runs';
/** Durable runs that ended; the server drops each one `retentionMs` after its last write. */
export const FINISHED_RUN_BUCKET = 'yb-runs-finished';

/** Records too large for a KV value (a forEach over hundreds of items), for runs in progress… */
export const RUN_STATE_BUCKET = 'yb-run-state';
/** …and for finished runs (same retention as the finished-runs bucket). */
export const FINISHED_RUN_STATE_BUCKET = 'yb-run-state-finished';

export interface RunStoreOptions {
  /** JetStream domain of the buckets; absent: the server's own JetStream. */
  domain?: string;
}

/** How long delete markers of runs that moved to the finished bucket are kept before being purged. */
const MARKER_AGE_MS = 60_000;

/** The header that marks a KV message as a delete or purge (the KV client's `kvOperationHdr`, not exported). */
const KV_OPERATION_HEADER = 'KV-Operation';

/** What a KV entry holds when its run's record went to the object store (under the same name). */
interface SpilledPointer {
  $ybSpilled: { bytes: number };
}

/** One place records live: a KV bucket, with an object store for the records too large for it. */
interface Side {
  kv: KV;
  objects: ObjectStore;
  /** Keys whose current record is in `objects`. */
  spilled: Set<string>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Durable run state in JetStream KV, one key per run. Running runs live in `yb-runs`; a
 * run that ends moves to `yb-runs-finished`, a bucket whose `max_age` is the retention, so
 * finished runs expire on the server with no index or sweep here, while a run in progress
 * never expires however long it takes. A record larger than a KV value may be (NATS
 * `max_payload`; a forEach over hundreds of items gets there) goes to an object store under
 * the same name, with a pointer in KV. Writes for one run are chained so they land in
 * order; the engine awaits them before dispatching.
 */
export class RunStore {
  private readonly chains = new Map<string, Promise<void>>();
  /** Runs whose latest record is in the finished bucket (so a retry knows to take it out). */
  private readonly finishedIds = new Set<string>();

  private constructor(
    private readonly transport: NatsTransport,
    private readonly active: Side,
    private readonly finished: Side,
    readonly retentionMs: number,
    /** Largest record kept in KV itself. */
    private readonly inlineBytes: number,
  ) {}

  /**
   * `options.domain`: the JetStream domain the buckets live in (a site engine's run store is
   * in its site's domain, on the site's leaf server); absent, the JetStream of the server
   * the transport is connected to.
   */
  static async open(transport: NatsTransport, retentionMs: number, options: RunStoreOptions = {}): Promise<RunStore> {
    const domain = options.domain ? { domain: options.domain } : {};
    const js = jetstream(transport.connection, domain);
    const kvm = new Kvm(js);
    const objm = new Objm(js);
    const ttl = retentionMs * 1_000_000;
    const active: Side = {
      kv: await createKv(kvm, RUN_BUCKET, { history: 1 }),
      objects: await createObjectStore(objm, RUN_STATE_BUCKET),
      spilled: new Set(),
    };
    const finished: Side = {
      kv: await createKv(kvm, FINISHED_RUN_BUCKET, { history: 1, ttl: retentionMs }),
      objects: await createObjectStore(objm, FINISHED_RUN_STATE_BUCKET, { ttl }),
      spilled: new Set(),
    };
    // Existing buckets keep the retention they were created with unless told otherwise.
    const jsm = await jetstreamManager(transport.connection, domain);
    for (const stream of [`KV_${FINISHED_RUN_BUCKET}`, `OBJ_${FINISHED_RUN_STATE_BUCKET}`]) {
      const info = await jsm.streams.info(stream);
      if (info.config.max_age !== ttl) {
        await jsm.streams.update(stream, {
          ...info.config,
          max_age: ttl,
          duplicate_window: Math.min(info.config.duplicate_window, ttl),
        });
      }
    }
    // Headers and framing of the KV publish need some room too.
    return new RunStore(transport, active, finished, retentionMs, transport.maxPayload - 16 * 1024);
  }

  /** Stores `data` under `key` on `side`: in KV, or in its object store with a pointer in KV. */
  private async write(side: Side, key: string, data: string): Promise<void> {
    const bytes = data.length * 3 <= this.inlineBytes ? undefined : encoder.encode(data);
    if (bytes === undefined || bytes.length <= this.inlineBytes) {
      await this.put(side.kv, key, bytes ?? data);
      if (side.spilled.delete(key)) await side.objects.delete(key);
      return;
    }
    // The object first, then the pointer: a pointer never names a missing object.
    await side.objects.putBlob({ name: key }, bytes);
    await side.kv.put(key, JSON.stringify({ $ybSpilled: { bytes: bytes.length } } satisfies SpilledPointer));
    side.spilled.add(key);
  }

  /**
   * `kv.put`, published through the transport's own request path: the client's request
   * machinery builds an Error with a stack trace for every acknowledgement (≈ 7 % of the
   * orchestrator's time on durable runs). Same subject as the bucket's own put (domains
   * and mirrors included), same acknowledgement.
   */
  private async put(kv: KV, key: string, data: Uint8Array | string, headers?: Record<string, string>): Promise<void> {
    const subject = (kv as KV & { subjectForKey(k: string, edit: boolean): string }).subjectForKey(key, true);
    const reply = await this.transport.requestRaw(subject, data, { headers });
    let ack: { stream?: string; error?: { code?: number; description?: string } };
    try {
      ack = JSON.parse(decoder.decode(reply.data)) as typeof ack;
    } catch {
      ack = {};
    }
    if (ack.error || !ack.stream) {
      // JetStream's 503 (no stream leader yet) passes; any other error it answers is a refusal.
      const refused = ack.error !== undefined && ack.error.code !== 503;
      throw new YunbianError(
        refused ? 'INTERNAL' : 'UNAVAILABLE',
        `run record ${key} was not written to ${subject}: ${ack.error?.description ?? 'no JetStream acknowledgement'}`,
        { subject, code: ack.error?.code },
      );
    }
  }

  private async remove(side: Side, key: string): Promise<void> {
    // `kv.purge`, by the same path as `put`: an empty message marked as a purge that rolls up the key.
    await this.put(side.kv, key, '', {
      [KV_OPERATION_HEADER]: 'PURGE',
      [JsHeaders.RollupHdr]: JsHeaders.RollupValueSubject,
    });
    if (side.spilled.delete(key)) await side.objects.delete(key);
  }

  /** The record under `key` on `side`, following a pointer to the object store. */
  private read(side: Side, key: string): Promise<RunRecord | undefined> {
    return readRecord(side, key);
  }

  /**
   * Resolves once the record is stored. When a run moves between buckets, its old copy is
   * removed after that (in the same per-run chain, not awaited here, on the event loop's next
   * turn): a crash in between leaves it in both, and loadAll keeps the newer record.
   */
  save(run: RunRecord): Promise<void> {
    const data = JSON.stringify(run);
    const key = `run.${run.id}`;
    const terminal = isTerminalRun(run.status);
    const previous = this.chains.get(run.id) ?? Promise.resolve();
    let stale: Side | undefined;
    const written = previous.then(async () => {
      // A write that fails while a stream's leader is re-elected (a server of the cluster died) is retried.
      if (terminal) {
        await retryingWrite(() => this.write(this.finished, key, data));
        this.finishedIds.add(run.id);
        stale = this.active;
      } else {
        await retryingWrite(() => this.write(this.active, key, data));
        if (this.finishedIds.delete(run.id)) stale = this.finished;
      }
    });
    const settled = written
      .then(async () => {
        if (!stale) return;
        const from = stale;
        // Once what the stored record lets go has gone: the reply to whoever waits for the run
        // is written before this removal, not after it (a socket write of its own otherwise),
        // and the removals of runs that end together leave in one write.
        await new Promise((resolve) => setImmediate(resolve));
        await retryingWrite(() => this.remove(from, key));
      })
      .catch(() => undefined);
    this.chains.set(run.id, settled);
    void settled.then(() => {
      if (this.chains.get(run.id) === settled) this.chains.delete(run.id);
    });
    return written;
  }

  /** One run's latest record, or undefined when it was never durable or has expired. */
  async load(id: string): Promise<RunRecord | undefined> {
    const found = await Promise.all([this.read(this.finished, `run.${id}`), this.read(this.active, `run.${id}`)]);
    const runs = found.filter((run) => run !== undefined);
    return runs.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  }

  /** Every stored run (running ones and finished ones within retention), newest record of each. */
  async loadAll(): Promise<RunRecord[]> {
    const byId = new Map<string, RunRecord>();
    const inBoth: string[] = [];
    for (const side of [this.finished, this.active]) {
      const keys: string[] = [];
      for await (const key of await side.kv.keys('run.>')) keys.push(key);
      for (const key of keys) {
        const run = await this.read(side, key);
        if (!run) continue;
        const known = byId.get(run.id);
        if (known) inBoth.push(run.id);
        if (!known || run.updatedAt > known.updatedAt) byId.set(run.id, run);
        if (side === this.finished) this.finishedIds.add(run.id);
      }
    }
    // A crash between moving a run and removing its old copy: keep the newer one only.
    for (const id of inBoth) {
      const run = byId.get(id)!;
      if (isTerminalRun(run.status)) await this.remove(this.active, `run.${id}`);
      else if (this.finishedIds.delete(id)) await this.remove(this.finished, `run.${id}`);
    }
    return [...byId.values()];
  }

  /**
   * The runs in progress (the running bucket only, without the finished runs). After a crash
   * between a run's move and its old copy's removal one may have ended since: `load` says.
   */
  async loadRunning(): Promise<RunRecord[]> {
    const keys: string[] = [];
    for await (const key of await this.active.kv.keys('run.>')) keys.push(key);
    const runs: RunRecord[] = [];
    for (const key of keys) {
      const run = await this.read(this.active, key);
      if (run?.status === 'running') runs.push(run);
    }
    return runs;
  }

  /** Drops the delete markers runs leave in `yb-runs` when they move to the finished bucket. */
  async compact(): Promise<void> {
    // On the client's bucket class, not its KV interface.
    await (this.active.kv as KV & { purgeDeletes(olderMillis: number): Promise<unknown> }).purgeDeletes(MARKER_AGE_MS);
  }
}

/** Reads at most this many records at once (one round trip each, in parallel). */
const READ_CONCURRENCY = 32;

/**
 * Read-only access to a run store other engines write (the cloud reads the records embedded
 * engines keep in its own store; a site's runs it asks of the site engine instead, which
 * decides what leaves the site): the records as stored, never a copy. It
 * creates nothing and writes nothing; the keys are listed once and the records fetched in
 * parallel, so listing N runs costs a few round trips rather than N.
 */
export class RunStoreReader {
  private constructor(
    private readonly sides: Side[],
    readonly domain: string | undefined,
  ) {}

  /** Opens the buckets; fails when neither is there (the domain is unreachable, or no run store was ever opened in it). */
  static async open(transport: NatsTransport, options: RunStoreOptions = {}): Promise<RunStoreReader> {
    const js = jetstream(transport.connection, options.domain ? { domain: options.domain } : {});
    const kvm = new Kvm(js);
    const objm = new Objm(js);
    const sides: Side[] = [];
    let failure: Error | undefined;
    for (const [bucket, objects] of [
      [FINISHED_RUN_BUCKET, FINISHED_RUN_STATE_BUCKET],
      [RUN_BUCKET, RUN_STATE_BUCKET],
    ]) {
      try {
        const kv = await kvm.open(bucket);
        await kv.status();
        sides.push({ kv, objects: await objm.open(objects), spilled: new Set() });
      } catch (err) {
        failure = err as Error;
      }
    }
    if (sides.length === 0) {
      throw new Error(
        `no run store in JetStream domain ${options.domain ?? '(default)'}: ${failure?.message ?? 'no buckets'}`,
      );
    }
    return new RunStoreReader(sides, options.domain);
  }

  /** One run's latest record, or undefined. */
  async load(id: string): Promise<RunRecord | undefined> {
    const found = await Promise.all(this.sides.map((side) => readRecord(side, `run.${id}`).catch(() => undefined)));
    return found.filter((run) => run !== undefined).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  }

  /** Every stored run, newest record of each. */
  async list(): Promise<RunRecord[]> {
    const byId = new Map<string, RunRecord>();
    for (const side of this.sides) {
      const keys: string[] = [];
      for await (const key of await side.kv.keys('run.>')) keys.push(key);
      for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
        const runs = await Promise.all(
          keys.slice(i, i + READ_CONCURRENCY).map((key) => readRecord(side, key).catch(() => undefined)),
        );
        for (const run of runs) {
          if (!run) continue;
          const known = byId.get(run.id);
          if (!known || run.updatedAt > known.updatedAt) byId.set(run.id, run);
        }
      }
    }
    return [...byId.values()];
  }
}

/** The record under `key` on `side`, following a pointer to the object store. */
async function readRecord(side: Side, key: string): Promise<RunRecord | undefined> {
  const entry = await side.kv.get(key);
  if (entry?.operation !== 'PUT') return undefined;
  const value = entry.json<RunRecord | SpilledPointer>();
  if (!('$ybSpilled' in value)) return value;
  side.spilled.add(key);
  const bytes = await side.objects.getBlob(key);
  return bytes ? (JSON.parse(decoder.decode(bytes)) as RunRecord) : undefined;
}
