import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsTransport } from '@yunbian/transport';
import { isTerminalRun, type RunRecord } from '@yunbian/workflow';

/** Durable runs in progress (and failed or cancelled runs brought back by a retry). */
export const RUN_BUCKET = 'yb-runs';
/** Durable runs that ended; the server drops each one `retentionMs` after its last write. */
export const FINISHED_RUN_BUCKET = 'yb-runs-finished';

/** How long delete markers of runs that moved to the finished bucket are kept before being purged. */
const MARKER_AGE_MS = 60_000;

/**
 * Durable run state in JetStream KV, one key per run. Running runs live in `yb-runs`; a
 * run that ends moves to `yb-runs-finished`, a bucket whose `max_age` is the retention, so
 * finished runs expire on the server with no index or sweep here, while a run in progress
 * never expires however long it takes. Writes for one run are chained so they land in
 * order; the engine awaits them before dispatching.
 */
export class RunStore {
  private readonly chains = new Map<string, Promise<void>>();
  /** Runs whose latest record is in the finished bucket (so a retry knows to take it out). */
  private readonly finishedIds = new Set<string>();

  private constructor(
    private readonly active: KV,
    private readonly finished: KV,
    readonly retentionMs: number,
  ) {}

  static async open(transport: NatsTransport, retentionMs: number): Promise<RunStore> {
    const kvm = new Kvm(transport.connection);
    const active = await kvm.create(RUN_BUCKET, { history: 1 });
    const finished = await kvm.create(FINISHED_RUN_BUCKET, { history: 1, ttl: retentionMs });
    // An existing bucket keeps the retention it was created with unless told otherwise.
    const status = await finished.status();
    if (status.ttl !== retentionMs) {
      const jsm = await jetstreamManager(transport.connection);
      const info = await jsm.streams.info(`KV_${FINISHED_RUN_BUCKET}`);
      const ttlNanos = retentionMs * 1_000_000;
      await jsm.streams.update(info.config.name, {
        ...info.config,
        max_age: ttlNanos,
        duplicate_window: Math.min(info.config.duplicate_window, ttlNanos),
      });
    }
    return new RunStore(active, finished, retentionMs);
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
    let stale: KV | undefined;
    const written = previous.then(async () => {
      if (terminal) {
        await this.finished.put(key, data);
        this.finishedIds.add(run.id);
        stale = this.active;
      } else {
        await this.active.put(key, data);
        if (this.finishedIds.delete(run.id)) stale = this.finished;
      }
    });
    const settled = written
      .then(async () => {
        if (stale) await stale.purge(key);
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
    const entries = await Promise.all([this.finished.get(`run.${id}`), this.active.get(`run.${id}`)]);
    const runs = entries.filter((e) => e?.operation === 'PUT').map((e) => e!.json<RunRecord>());
    return runs.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  }

  /** Every stored run (running ones and finished ones within retention), newest record of each. */
  async loadAll(): Promise<RunRecord[]> {
    const byId = new Map<string, RunRecord>();
    const inBoth: string[] = [];
    for (const kv of [this.finished, this.active]) {
      const keys: string[] = [];
      for await (const key of await kv.keys('run.>')) keys.push(key);
      for (const key of keys) {
        const entry = await kv.get(key);
        if (entry?.operation !== 'PUT') continue;
        const run = entry.json<RunRecord>();
        const known = byId.get(run.id);
        if (known) inBoth.push(run.id);
        if (!known || run.updatedAt > known.updatedAt) byId.set(run.id, run);
        if (kv === this.finished) this.finishedIds.add(run.id);
      }
    }
    // A crash between moving a run and removing its old copy: keep the newer one only.
    for (const id of inBoth) {
      const run = byId.get(id)!;
      if (isTerminalRun(run.status)) await this.active.purge(`run.${id}`);
      else if (this.finishedIds.delete(id)) await this.finished.purge(`run.${id}`);
    }
    return [...byId.values()];
  }

  /** Drops the delete markers runs leave in `yb-runs` when they move to the finished bucket. */
  async compact(): Promise<void> {
    // On the client's bucket class, not its KV interface.
    await (this.active as KV & { purgeDeletes(olderMillis: number): Promise<unknown> }).purgeDeletes(MARKER_AGE_MS);
  }
}
