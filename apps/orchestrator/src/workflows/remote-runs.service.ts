import { Inject, Injectable } from '@nestjs/common';
import { JsonLogger } from '@yunbian/common';
import { NatsTransport, RunStoreReader } from '@yunbian/transport';
import type { RunRecord } from '@yunbian/workflow';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { EnginesService } from './engines.service';

/** A listing of one store is reused this long (a dashboard polling GET /runs does not multiply WAN reads). */
export const REMOTE_LIST_CACHE_MS = 1_000;
/** A store that does not answer within this is left out of the answer (its engine is likely cut off). */
const REMOTE_READ_TIMEOUT_MS = 3_000;

interface Source {
  /** JetStream domain of the store; undefined: this engine's own (the hub's). */
  domain: string | undefined;
  /** Only records of other engines count (this engine's own store also holds its own runs). */
  own: boolean;
}

/**
 * The runs the cloud lists but does not execute: those in each live site engine's run store
 * (its site's JetStream domain) and those in the cloud's own store that another engine
 * (an embedded one) executes. Read through from the store the executing engine writes — the
 * record as stored, never a copy kept here that could drift — with listings cached for
 * `REMOTE_LIST_CACHE_MS` (a listing costs a few round trips over the WAN: keys, then the
 * records in parallel) and single records read uncached. A store that does not answer in
 * time (its uplink cut) is left out and logged; its engine is dropped once it stops announcing.
 */
@Injectable()
export class RemoteRuns {
  private readonly logger = new JsonLogger('remote-runs');
  private readonly readers = new Map<string, Promise<RunStoreReader>>();
  private readonly listings = new Map<string, { at: number; runs: Promise<RunRecord[]> }>();

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(EnginesService) private readonly engines: EnginesService,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {}

  /**
   * The stores to read: only the cloud lists other engines' runs. Its own store is always
   * one (embedded engines' durable runs stay listed after their engine is gone); a site
   * engine's while it is live (for a single run, also once it is lost).
   */
  private sources(options: { lostToo?: boolean } = {}): Source[] {
    if (this.config.mode !== 'cloud') return [];
    const sources = new Map<string, Source>([
      [this.config.runDomain ?? '', { domain: this.config.runDomain, own: true }],
    ]);
    const engines = [...this.engines.others(), ...(options.lostToo ? this.engines.lost() : [])];
    for (const engine of engines) {
      const own = (engine.domain ?? undefined) === this.config.runDomain;
      const key = engine.domain ?? '';
      if (!sources.has(key)) sources.set(key, { domain: own ? this.config.runDomain : engine.domain, own });
    }
    return [...sources.values()];
  }

  /** Runs held by other engines, newest record of each. */
  async list(): Promise<RunRecord[]> {
    const lists = await Promise.all(
      this.sources().map(async (source) => {
        const runs = await this.listing(source);
        return source.own ? runs.filter((r) => r.executedBy && r.executedBy.id !== this.config.id) : runs;
      }),
    );
    return lists.flat();
  }

  /** One run held by another engine, read from its store now; undefined when none has it. */
  async find(id: string): Promise<RunRecord | undefined> {
    const found = await Promise.all(
      // A lost engine's store may still answer (the engine died, its site's JetStream did not):
      // a cancel then hears that the engine is gone rather than that the run does not exist.
      this.sources({ lostToo: true })
        .filter((source) => !source.own)
        .map((source) =>
          this.timed(source, async (reader) => reader.load(id)).catch((err: Error) => {
            this.logger.warn('remote run store unreadable', { domain: source.domain, error: err.message });
            return undefined;
          }),
        ),
    );
    return found.find((run) => run !== undefined);
  }

  private listing(source: Source): Promise<RunRecord[]> {
    const key = source.domain ?? '';
    const cached = this.listings.get(key);
    if (cached && Date.now() - cached.at < REMOTE_LIST_CACHE_MS) return cached.runs;
    const runs = this.timed(source, (reader) => reader.list()).catch((err: Error) => {
      this.logger.warn('remote run store unreadable', { domain: source.domain, error: err.message });
      this.listings.delete(key);
      return [] as RunRecord[];
    });
    this.listings.set(key, { at: Date.now(), runs });
    return runs;
  }

  private async timed<T>(source: Source, read: (reader: RunStoreReader) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${REMOTE_READ_TIMEOUT_MS} ms`)),
        REMOTE_READ_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([this.reader(source).then(read), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private reader(source: Source): Promise<RunStoreReader> {
    const key = source.domain ?? '';
    let reader = this.readers.get(key);
    if (!reader) {
      reader = RunStoreReader.open(this.transport, { domain: source.domain });
      // A failed open (the domain was unreachable) is tried again next time.
      reader.catch(() => this.readers.delete(key));
      this.readers.set(key, reader);
    }
    return reader;
  }
}
