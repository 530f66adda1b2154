import { YunbianError } from '@yunbian/transport';

export interface AdmissionLimits {
  /** At most this many run at once. */
  concurrency: number;
  /** At most this many wait for a place; past that, `run` refuses at once. */
  queue: number;
  /** Named in refusals: what is bounded and the settings that bound it. */
  what: string;
  settings: string;
  /** Retry-After (seconds) a refusal suggests. */
  retryAfterSeconds: number;
}

/**
 * A semaphore with a bounded queue: work beyond `concurrency` waits, in order, and work
 * beyond `concurrency + queue` is refused with OVERLOADED (REST 429 with Retry-After) instead
 * of piling up processes, memory and temp files.
 */
export class Admission {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limits: AdmissionLimits) {}

  stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.queue) {
        const { what, concurrency, queue, settings, retryAfterSeconds } = this.limits;
        throw new YunbianError(
          'OVERLOADED',
          `too many ${what} at once: ${concurrency} running and ${queue} waiting (the bound, ${settings}); try again in ${retryAfterSeconds} s`,
          { running: this.running, waiting: this.waiting.length, retryAfterSeconds },
        );
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      // The place passes straight to the next waiter (running stays the same), else frees up.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
