import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { createKv, createObjectStore, retryingWrite } from './durability';
import type { NatsTransport } from './nats-transport';
import { isTerminalRun, type RunRecord } from '@yunbian/workflow';

/** Durable runs in progress (and failed or cancelled runs brought back by a retry). */
export const RUN_BUCKET = 'yb-runs';
/** Durable runs that ended; the server drops each one `retentionMs` after its last write. */
export const FINISHED_RUN_BUCKET = 'yb-runs-finished';

/** Records too large for a KV value (a forEach over hundreds of items), for runs in progress… */
export const RUN_STATE_BUCKET = 'yb-run-state';
/** …and for finished runs (same retention as the finished-runs bucket). */
export const FINISHED_RUN_STATE_BUCKET = 'yb-run-state-finished';

/** How long delete markers of runs that moved to the finished bucket are kept before being purged. */
const MARKER_AGE_MS = 60_000;

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
    private readonly active: Side,
    private readonly finished: Side,
    readonly retentionMs: number,
    /** Largest record kept in KV itself. */
    private readonly inlineBytes: number,
  ) {}

  static async open(transport: NatsTransport, retentionMs: number): Promise<RunStore> {
    const kvm = new Kvm(transport.connection);
    const objm = new Objm(transport.connection);
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
    const jsm = await jetstreamManager(transport.connection);
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
    return new RunStore(active, finished, retentionMs, transport.maxPayload - 16 * 1024);
  }

  /** Stores `data` under `key` on `side`: in KV, or in its object store with a pointer in KV. */
  private async write(side: Side, key: string, data: string): Promise<void> {
    const bytes = data.length * 3 <= this.inlineBytes ? undefined : encoder.encode(data);
    if (bytes === undefined || bytes.length <= this.inlineBytes) {
      await side.kv.put(key, bytes ?? data);
      if (side.spilled.delete(key)) await side.objects.delete(key);
      return;
    }
    // The object first, then the pointer: a pointer never names a missing object.
    await side.objects.putBlob({ name: key }, bytes);
    await side.kv.put(key, JSON.stringify({ $ybSpilled: { bytes: bytes.length } } satisfies SpilledPointer));
    side.spilled.add(key);
  }

  private async remove(side: Side, key: string): Promise<void> {
    await side.kv.purge(key);
    if (side.spilled.delete(key)) await side.objects.delete(key);
  }

  /** The record under `key` on `side`, following a pointer to the object store. */
  private async read(side: Side, key: string): Promise<RunRecord | undefined> {
    const entry = await side.kv.get(key);
    if (entry?.operation !== 'PUT') return undefined;
    const value = entry.json<RunRecord | SpilledPointer>();
    if (!('$ybSpilled' in value)) return value;
    side.spilled.add(key);
    const bytes = await side.objects.getBlob(key);
    return bytes ? (JSON.parse(decoder.decode(bytes)) as RunRecord) : undefined;
  }

  /**
   * Resolves once the record is stored. When a run moves between buckets, its old copy is
   * removed after that (in the same per-run chain, not awaited here): a crash in between
   * leaves it in both, and loadAll keeps the newer record.
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
        const from = stale;
        if (from) await retryingWrite(() => this.remove(from, key));
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
