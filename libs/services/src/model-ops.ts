/** Pure helpers of the `model-ops` service (unit spec beside). */

/**
 * Who a model-ops call acts as: `<actor>/run:<id>` when the workflow engine calls (its
 * idempotency key is `run:step:attempt`), else `actor` as given.
 */
export function actorOf(actor: string, idempotencyKey?: string): string {
  const run = idempotencyKey?.split(':')[0];
  return run && idempotencyKey!.includes(':') ? `${actor}/run:${run}` : actor;
}

/** Accuracy, accuracy per class and mean cross-entropy of class-probability rows against labels. */
export function classificationReport(
  rows: ArrayLike<number>[],
  labels: ArrayLike<number>,
  classes: number,
): { samples: number; accuracy: number; perClass: (number | null)[]; loss: number } {
  if (rows.length !== labels.length) throw new Error(`${rows.length} predictions for ${labels.length} labels`);
  const seen = new Array<number>(classes).fill(0);
  const right = new Array<number>(classes).fill(0);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    let best = 0;
    for (let k = 1; k < r.length; k++) if (r[k] > r[best]) best = k;
    const label = labels[i];
    seen[label]++;
    if (best === label) {
      right[label]++;
      correct++;
    }
    loss -= Math.log(Math.max(r[label], 1e-12));
  }
  return {
    samples: rows.length,
    accuracy: rows.length ? correct / rows.length : 0,
    perClass: seen.map((n, k) => (n ? right[k] / n : null)),
    loss: rows.length ? loss / rows.length : 0,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** How long the watch still has to wait: the window runs `windowMs` from `startedAt`, whatever attempt watches it. */
export function remainingMs(startedAt: string, windowMs: number, now: number): number {
  return Math.max(0, Date.parse(startedAt) + windowMs - now);
}

/** One reading of a version's cumulative request count, at epoch ms `at`. */
export interface RequestCount {
  at: number;
  requests: number;
}

/**
 * Whether the count has stood still for at least `quietMs` up to the last reading (readings
 * oldest first): no request was answered in that time, so none is in flight that the instances'
 * counters (written at most every 500 ms after a change) would show.
 */
export function quietFor(readings: RequestCount[], quietMs: number): boolean {
  const last = readings[readings.length - 1];
  if (!last) return false;
  let i = readings.length - 1;
  while (i > 0 && readings[i - 1].requests === last.requests) i--;
  return last.at - readings[i].at >= quietMs;
}
