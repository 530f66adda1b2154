import { Inject, Injectable } from '@nestjs/common';
import { JsonLogger } from '@yunbian/common';
import {
  Subjects,
  type EngineAnnouncement,
  type EngineRunGetReply,
  type EngineRunsListReply,
  type EngineRunsListRequest,
} from '@yunbian/contracts';
import { NatsTransport, RunStoreReader, YunbianError } from '@yunbian/transport';
import type { RunEngine, RunRecord } from '@yunbian/workflow';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { EnginesService } from './engines.service';
import type { RunFilter } from './run-listing';
import type { RunSummary } from './run-view';

/** A listing of one source is reused this long (a dashboard polling GET /runs does not multiply WAN requests). */
export const REMOTE_LIST_CACHE_MS = 1_000;
/** A source that does not answer within this is left out of the answer (its engine is likely cut off). */
const REMOTE_READ_TIMEOUT_MS = 3_000;
/** Runs whose executing site engine is remembered from listings and reads (for a read or control when it is gone). */
const KNOWN_RUNS = 50_000;

/** A site whose runs could not be read, and why. */
export interface UnavailableSite {
  site: string;
  engine: string;
  reason: string;
}

/**
 * The runs the cloud lists but does not execute: those site engines execute (asked of each
 * live site engine on its own subjects, `Subjects.engineRunsList` / `engineRunsGet`: the site
 * answers with what may leave it — summaries, and single records with every value above the
 * `public` tier replaced by a `$ybSiteRef`) and those in the cloud's own store that another
 * engine of the hub (an embedded one) executes, read from that store as stored. Listings are
 * cached for `REMOTE_LIST_CACHE_MS` (a site's listing costs one round trip a page over the
 * WAN); single records are read uncached. The cloud never reads a site's run store: a site
 * engine that does not answer in time (its uplink cut) is left out and named, with why.
 */
@Injectable()
export class RemoteRuns {
  private readonly logger = new JsonLogger('remote-runs');
  private reader?: Promise<RunStoreReader>;
  private readonly listings = new Map<string, { at: number; runs: Promise<RunSummary[]> }>();
  /** Run id → the site engine that answered for it last (insertion order: oldest first). */
  private readonly known = new Map<string, RunEngine>();

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(EnginesService) private readonly engines: EnginesService,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {}

  private siteEngines(options: { lostToo?: boolean } = {}): EngineAnnouncement[] {
    const engines = [...this.engines.others(), ...(options.lostToo ? this.engines.lost() : [])];
    const byId = new Map(engines.filter((e) => e.kind === 'site').map((e) => [e.id, e]));
    return [...byId.values()];
  }

  /**
   * Runs held by other engines (only the cloud lists them), newest first per source, and the
   * sites whose runs could not be listed.
   */
  async list(filter: RunFilter = {}): Promise<{ runs: RunSummary[]; unavailable: UnavailableSite[] }> {
    if (this.config.mode !== 'cloud') return { runs: [], unavailable: [] };
    const unavailable: UnavailableSite[] = [];
    const own = this.cached('', () =>
      this.timed(() => this.ownStore().then((reader) => reader.list())).then((runs) =>
        // Runs of the hub's other engines (embedded ones) this store holds; site runs come from their sites.
        runs.filter((r) => r.executedBy && r.executedBy.id !== this.config.id && r.executedBy.kind !== 'site'),
      ),
    ).catch((err: Error) => {
      this.logger.warn('run store unreadable', { domain: this.config.runDomain, error: err.message });
      return [] as RunSummary[];
    });
    const sites = this.siteEngines().map((engine) =>
      this.cached(`${engine.id}|${filter.workflow ?? ''}|${filter.status ?? ''}|${filter.limit ?? ''}`, () =>
        this.timed((deadline) => this.listSite(engine, filter, deadline)),
      ).catch((err: Error) => {
        const site = engine.site ?? engine.id;
        this.logger.warn('site runs unavailable', { site, engine_id: engine.id, error: err.message });
        unavailable.push({ site, engine: engine.id, reason: err.message });
        return [] as RunSummary[];
      }),
    );
    const lists = await Promise.all([own, ...sites]);
    return { runs: lists.flat(), unavailable };
  }

  /** A site engine's listing: its pages in turn, until it says there are no more. */
  private async listSite(engine: EngineAnnouncement, filter: RunFilter, deadline: number): Promise<RunSummary[]> {
    const limit = Math.min(filter.limit ?? 100, 1_000);
    const runs: RunSummary[] = [];
    let after: EngineRunsListRequest['after'];
    do {
      const page = await this.transport.request<EngineRunsListReply<RunSummary>>(
        Subjects.engineRunsList(engine.id),
        {
          workflow: filter.workflow,
          status: filter.status,
          limit: limit - runs.length,
          after,
        } satisfies EngineRunsListRequest,
        { timeoutMs: Math.max(1, deadline - Date.now()) },
      );
      for (const run of page.runs) {
        runs.push(run);
        this.remember(run);
      }
      after = page.runs.length > 0 ? page.next : undefined;
    } while (after && runs.length < limit);
    return runs;
  }

  /**
   * One run a site engine executes, as its site lets it leave (asked of every site engine,
   * live or lost: a lost one may answer again); undefined when none has it. UNAVAILABLE when
   * it cannot be told: the engine known to execute it, or a live site engine, did not answer.
   */
  async find(id: string): Promise<RunRecord | undefined> {
    if (this.config.mode !== 'cloud') return undefined;
    // Other cloud replicas too (live ones): a run that is not durable is only in its replica's memory.
    const replicas = this.engines.others().filter((e) => e.kind === 'cloud');
    const engines = [...this.siteEngines({ lostToo: true }), ...replicas];
    const answers = await Promise.all(
      engines.map(async (engine) => {
        try {
          const reply = await this.timed((deadline) =>
            this.transport.request<EngineRunGetReply<RunRecord>>(
              Subjects.engineRunsGet(engine.id),
              { id },
              { timeoutMs: Math.max(1, deadline - Date.now()) },
            ),
          );
          return { engine, run: reply.run };
        } catch (err) {
          return { engine, failure: (err as Error).message };
        }
      }),
    );
    const found = answers.find((a) => a.run !== undefined)?.run;
    if (found) {
      this.remember(found);
      return found;
    }
    const knownBy = this.known.get(id);
    const failures = answers.filter((a) => a.failure !== undefined);
    const ofKnown = knownBy && failures.find((a) => a.engine.id === knownBy.id);
    if (ofKnown) {
      throw new YunbianError(
        'UNAVAILABLE',
        `run ${id} is executed by site engine ${knownBy.id}${knownBy.site ? ` at site ${knownBy.site}` : ''}, which did not answer (${ofKnown.failure}); its record stays at the site: try again once the site is reachable`,
        { engine: knownBy.id, site: knownBy.site },
      );
    }
    // The engine that had it answered without it: it has expired there.
    if (knownBy && answers.some((a) => a.engine.id === knownBy.id)) this.known.delete(id);
    const live = new Set(this.engines.others().map((e) => e.id));
    const silentLive = failures.filter((a) => live.has(a.engine.id));
    if (silentLive.length > 0) {
      const sites = silentLive.map((a) =>
        a.engine.kind === 'cloud'
          ? `orchestrator replica ${a.engine.id} (${a.failure})`
          : `site ${a.engine.site ?? '?'} (engine ${a.engine.id}: ${a.failure})`,
      );
      throw new YunbianError(
        'UNAVAILABLE',
        `run ${id} is not in the cloud's store, nor held by the engines that answered; the runs of ${sites.join(', ')} cannot be read now, so it may be there: try again once it is reachable`,
        { sites: silentLive.map((a) => a.engine.site) },
      );
    }
    return undefined;
  }

  /**
   * What run control needs of a run another engine executes: its record when its engine
   * answers; when that engine is silent, the engine last known to execute it (so the refusal
   * names it). Undefined when nobody has it.
   */
  async locate(id: string): Promise<Pick<RunRecord, 'id' | 'executedBy'> | undefined> {
    try {
      return await this.find(id);
    } catch (err) {
      const knownBy = this.known.get(id);
      if (knownBy) return { id, executedBy: knownBy };
      throw err;
    }
  }

  private remember(run: RunSummary): void {
    if (run.executedBy?.kind !== 'site') return;
    this.known.delete(run.id);
    this.known.set(run.id, run.executedBy);
    if (this.known.size > KNOWN_RUNS) this.known.delete(this.known.keys().next().value!);
  }

  private cached(key: string, read: () => Promise<RunSummary[]>): Promise<RunSummary[]> {
    const cached = this.listings.get(key);
    if (cached && Date.now() - cached.at < REMOTE_LIST_CACHE_MS) return cached.runs;
    const runs = read();
    // A failed listing is not kept: the next call asks again.
    runs.catch(() => this.listings.get(key)?.runs === runs && this.listings.delete(key));
    this.listings.set(key, { at: Date.now(), runs });
    if (this.listings.size > 1_000) this.listings.delete(this.listings.keys().next().value!);
    return runs;
  }

  private async timed<T>(read: (deadline: number) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${REMOTE_READ_TIMEOUT_MS} ms`)),
        REMOTE_READ_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([read(Date.now() + REMOTE_READ_TIMEOUT_MS), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The cloud's own run store, read-only (the records embedded engines write there). */
  private ownStore(): Promise<RunStoreReader> {
    if (!this.reader) {
      const reader = RunStoreReader.open(this.transport, { domain: this.config.runDomain });
      // A failed open is tried again next time.
      reader.catch(() => (this.reader = undefined));
      this.reader = reader;
    }
    return this.reader;
  }
}
