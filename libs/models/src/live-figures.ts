import { Kvm, type KV } from '@nats-io/kv';
import { MODEL_LIVE_BUCKET, type LiveFigures, type VersionFigures } from '@yunbian/contracts';
import { createKv, type NatsTransport } from '@yunbian/transport';

export const liveFiguresKey = (model: string, version: number, instanceId: string): string =>
  `${model}.${version}.${instanceId}`;

/** What one answered request adds: its rows, their top-class probabilities and, where labelled, hits. */
export interface RowStats {
  samples: number;
  confidenceSum: number;
  labelled: number;
  correct: number;
}

/**
 * Top class of each row of a `[rows, classes]` probability tensor against the row's label
 * (`labels[i]`: a class index, or null/undefined for an unlabelled row). A tensor of another
 * rank counts its rows without confidence or hits (not a classifier's output).
 */
export function rowStats(data: ArrayLike<number>, dims: number[], labels?: (number | null | undefined)[]): RowStats {
  const rows = dims[0] ?? 0;
  if (dims.length !== 2 || rows === 0) return { samples: rows, confidenceSum: 0, labelled: 0, correct: 0 };
  const classes = dims[1];
  let confidenceSum = 0;
  let labelled = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (data[r * classes + c] > data[r * classes + best]) best = c;
    confidenceSum += data[r * classes + best];
    const label = labels?.[r];
    if (typeof label === 'number') {
      labelled++;
      if (label === best) correct++;
    }
  }
  return { samples: rows, confidenceSum, labelled, correct };
}

export function emptyFigures(model: string, version: number, instanceId: string, nodeId: string): LiveFigures {
  const now = new Date().toISOString();
  return {
    model,
    version,
    instanceId,
    nodeId,
    startedAt: now,
    updatedAt: now,
    requests: 0,
    errors: 0,
    samples: 0,
    confidenceSum: 0,
    labelled: 0,
    correct: 0,
    latencyMsSum: 0,
  };
}

/** Adds one request (answered with `stats`, or failed when `stats` is undefined) to the counters. */
export function observe(figures: LiveFigures, latencyMs: number, stats?: RowStats): void {
  figures.requests++;
  figures.latencyMsSum += latencyMs;
  if (!stats) {
    figures.errors++;
    return;
  }
  figures.samples += stats.samples;
  figures.confidenceSum += stats.confidenceSum;
  figures.labelled += stats.labelled;
  figures.correct += stats.correct;
}

const COUNTERS = ['requests', 'errors', 'samples', 'confidenceSum', 'labelled', 'correct', 'latencyMsSum'] as const;

/**
 * The figures of `model@version` between two readings of every instance: `now` minus the
 * `baseline` reading of the same instance — unless that instance restarted since (another
 * `startedAt`) or was not there at the baseline, when all it counted is in the window.
 */
export function windowFigures(
  model: string,
  version: number,
  now: LiveFigures[],
  baseline: LiveFigures[],
): VersionFigures {
  const sum = { requests: 0, errors: 0, samples: 0, confidenceSum: 0, labelled: 0, correct: 0, latencyMsSum: 0 };
  let instances = 0;
  for (const reading of now) {
    if (reading.model !== model || reading.version !== version) continue;
    const before = baseline.find(
      (b) =>
        b.instanceId === reading.instanceId &&
        b.model === model &&
        b.version === version &&
        b.startedAt === reading.startedAt,
    );
    const delta = COUNTERS.map((k) => reading[k] - (before?.[k] ?? 0));
    if (delta[0] > 0) instances++;
    COUNTERS.forEach((k, i) => (sum[k] += delta[i]));
  }
  return {
    model,
    version,
    instances,
    requests: sum.requests,
    errors: sum.errors,
    samples: sum.samples,
    labelled: sum.labelled,
    correct: sum.correct,
    accuracy: sum.labelled ? sum.correct / sum.labelled : null,
    meanConfidence: sum.samples ? sum.confidenceSum / sum.samples : null,
    meanLatencyMs: sum.requests ? sum.latencyMsSum / sum.requests : null,
    errorRate: sum.requests ? sum.errors / sum.requests : 0,
  };
}

export async function openLiveFigures(transport: NatsTransport): Promise<KV> {
  return createKv(new Kvm(transport.jetstream()), MODEL_LIVE_BUCKET, {
    history: 1,
    // Readings of instances long gone are of no use to a window.
    ttl: 24 * 3600 * 1000,
  });
}

/** Every instance's latest reading for `model` (and `version` when given). */
export async function readLiveFigures(kv: KV, model: string, version?: number): Promise<LiveFigures[]> {
  const readings: LiveFigures[] = [];
  const keys: string[] = [];
  for await (const key of await kv.keys(version === undefined ? `${model}.>` : `${model}.${version}.*`)) keys.push(key);
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry && entry.operation === 'PUT') readings.push(entry.json<LiveFigures>());
  }
  return readings;
}

/**
 * Counters of one serving instance, written to `yb-model-live` at most every `flushMs`
 * after a change (and on `flush()`): a comparer on another node reads them from there.
 * Kept in JetStream KV rather than only in the node's Prometheus registry because the
 * comparer runs elsewhere and needs every instance's figures of a version over NATS.
 */
export class LiveFiguresRecorder {
  private figures?: LiveFigures;
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private kv?: Promise<KV | undefined>;

  constructor(
    private readonly transport: NatsTransport,
    private readonly instanceId: string,
    private readonly nodeId: string,
    private readonly flushMs = 500,
  ) {}

  /** Starts counting for another served version (a hot swap starts from zero). */
  serving(model: string, version: number): void {
    if (this.figures?.model === model && this.figures.version === version) return;
    void this.flush();
    this.figures = emptyFigures(model, version, this.instanceId, this.nodeId);
    this.dirty = true;
    this.schedule();
  }

  record(latencyMs: number, stats?: RowStats): void {
    if (!this.figures) return;
    observe(this.figures, latencyMs, stats);
    this.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
    this.timer.unref?.();
  }

  async flush(): Promise<void> {
    if (!this.figures || !this.dirty) return;
    this.dirty = false;
    const figures = { ...this.figures, updatedAt: new Date().toISOString() };
    this.kv ??= openLiveFigures(this.transport).catch(() => {
      this.kv = undefined;
      return undefined;
    });
    const kv = await this.kv;
    if (!kv) {
      this.dirty = true;
      return;
    }
    await kv
      .put(liveFiguresKey(figures.model, figures.version, figures.instanceId), JSON.stringify(figures))
      .catch(() => (this.dirty = true));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
