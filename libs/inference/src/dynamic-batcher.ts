import { YunbianError } from '@yunbian/transport';

/** A float32 tensor: dims and row-major values. */
export interface Tensor {
  dims: number[];
  data: Float32Array;
}

export type NamedTensors = Record<string, Tensor>;

export interface BatchingOptions {
  /** Most requests merged into one model execution (1 turns batching off). */
  maxBatch: number;
  /** How long the first request of a batch waits for company. */
  maxDelayMs: number;
  /** Requests waiting beyond which callers get OVERLOADED. */
  maxQueue: number;
}

export interface BatchedResult {
  outputs: NamedTensors;
  /** Requests served by the same model execution. */
  batchSize: number;
  /** Sequence number of that execution (for counting runs). */
  run: number;
}

interface Pending {
  inputs: NamedTensors;
  rows: number;
  key: string;
  resolve: (result: BatchedResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Dynamic batching for models with a batch dimension: requests whose inputs agree on
 * every dimension but the first are concatenated along it, run once, and the outputs
 * split back. One execution at a time: onnxruntime-node runs a session on the calling
 * thread (two concurrent runs take twice as long), so more cores come from intra-op
 * threads or more instances. Requests arriving meanwhile queue and leave together.
 */
export class DynamicBatcher {
  private readonly queue: Pending[] = [];
  private timer?: NodeJS.Timeout | NodeJS.Immediate;
  private running = false;
  private runs = 0;

  constructor(
    private readonly execute: (inputs: NamedTensors) => Promise<NamedTensors>,
    private readonly options: BatchingOptions,
  ) {}

  get executions(): number {
    return this.runs;
  }

  get queued(): number {
    return this.queue.length;
  }

  submit(inputs: NamedTensors): Promise<BatchedResult> {
    if (this.queue.length >= this.options.maxQueue) {
      return Promise.reject(
        new YunbianError(
          'OVERLOADED',
          `inference queue is full (${this.queue.length} waiting, limit ${this.options.maxQueue}); retry later or add instances`,
        ),
      );
    }
    const names = Object.keys(inputs).sort();
    if (names.length === 0) return Promise.reject(new YunbianError('BAD_REQUEST', 'no input tensors given'));
    const rows = inputs[names[0]].dims[0] ?? 1;
    for (const name of names) {
      if ((inputs[name].dims[0] ?? 1) !== rows) {
        return Promise.reject(
          new YunbianError(
            'BAD_REQUEST',
            `input tensors disagree on the batch dimension (${names[0]}: ${rows}, ${name}: ${inputs[name].dims[0]})`,
          ),
        );
      }
    }
    const key = names.map((n) => `${n}:${inputs[n].dims.slice(1).join('x')}`).join('|');
    return new Promise((resolve, reject) => {
      this.queue.push({ inputs, rows, key, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    const key = this.queue[0].key;
    const ready = this.queue.filter((p) => p.key === key).length >= this.options.maxBatch;
    if (ready || this.options.maxBatch <= 1) {
      this.cancelTimer();
      void this.flush();
    } else if (!this.timer) {
      const fire = () => {
        this.timer = undefined;
        void this.flush();
      };
      // No delay: still let requests that arrived in the same turn of the event loop join.
      this.timer = this.options.maxDelayMs > 0 ? setTimeout(fire, this.options.maxDelayMs) : setImmediate(fire);
    }
  }

  private cancelTimer(): void {
    if (this.timer && 'refresh' in this.timer) clearTimeout(this.timer);
    else if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const key = this.queue[0].key;
    const batch: Pending[] = [];
    for (let i = 0; i < this.queue.length && batch.length < this.options.maxBatch;) {
      if (this.queue[i].key === key) batch.push(...this.queue.splice(i, 1));
      else i++;
    }
    const run = ++this.runs;
    try {
      const outputs = await this.execute(concatenate(batch.map((p) => p.inputs)));
      const parts = split(
        outputs,
        batch.map((p) => p.rows),
      );
      batch.forEach((p, i) => p.resolve({ outputs: parts[i], batchSize: batch.length, run }));
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

/** Concatenates each named input along dimension 0. */
export function concatenate(items: NamedTensors[]): NamedTensors {
  if (items.length === 1) return items[0];
  const merged: NamedTensors = {};
  for (const name of Object.keys(items[0])) {
    const parts = items.map((i) => i[name]);
    const data = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
    let offset = 0;
    for (const t of parts) {
      data.set(t.data, offset);
      offset += t.data.length;
    }
    const rows = parts.reduce((n, t) => n + (t.dims[0] ?? 1), 0);
    merged[name] = { dims: [rows, ...parts[0].dims.slice(1)], data };
  }
  return merged;
}

/** Splits each named output along dimension 0 into pieces of `rows` rows. */
export function split(outputs: NamedTensors, rows: number[]): NamedTensors[] {
  const total = rows.reduce((a, b) => a + b, 0);
  const pieces: NamedTensors[] = rows.map(() => ({}));
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims[0] !== total) {
      throw new YunbianError(
        'INTERNAL',
        `output ${name} has ${tensor.dims[0]} rows for a batch of ${total}; the model does not batch along dimension 0`,
      );
    }
    const perRow = tensor.data.length / total;
    let row = 0;
    rows.forEach((n, i) => {
      pieces[i][name] = {
        dims: [n, ...tensor.dims.slice(1)],
        data: tensor.data.slice(row * perRow, (row + n) * perRow),
      };
      row += n;
    });
  }
  return pieces;
}
