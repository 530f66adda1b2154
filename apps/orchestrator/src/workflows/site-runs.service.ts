import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import {
  Subjects,
  type EngineRunGetReply,
  type EngineRunGetRequest,
  type EngineRunsListReply,
  type EngineRunsListRequest,
} from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import type { RunRecord, RunStatus } from '@yunbian/workflow';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { pageOfRuns } from './run-listing';
import { forCloud, replyBudget } from './run-redaction';
import { runSummary, type RunSummary } from './run-view';
import { WorkflowEngine } from './workflow-engine.service';

const RUN_STATUSES: RunStatus[] = ['running', 'succeeded', 'failed', 'cancelled'];
/** A summary's error larger than this travels as its code and the start of its message. */
const SUMMARY_ERROR_BYTES = 16 * 1024;

/**
 * What of a site engine's runs leaves its site: it answers the cloud's listings and reads on
 * its own subjects (`Subjects.engineRunsList` / `engineRunsGet`) from the runs it holds —
 * summaries for a listing, a page per message; for one run its record with every value above
 * the `public` tier replaced by a `$ybSiteRef` (`redactForCloud`). The full values stay in the
 * site's store and memory; the site engine's own `GET /runs/{id}` shows them. The cloud reads
 * its own store (embedded engines' runs, other replicas' durable runs) directly; a cloud
 * replica answers `engineRunsGet` only for the runs it holds, whole (for the other replicas).
 */
@Injectable()
export class SiteRuns implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscriptions: Subscription[] = [];

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowEngine) private readonly engine: WorkflowEngine,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {}

  onApplicationBootstrap(): void {
    const get = Subjects.engineRunsGet(this.config.id);
    if (this.config.mode === 'cloud') {
      // A cloud replica answers the other replicas for the runs it holds: a run that is not
      // durable is in no shared store, only in the memory of the replica executing it.
      this.subscriptions.push(
        this.transport.serve<EngineRunGetRequest, EngineRunGetReply<RunRecord>>(get, (r) => this.held(r), {
          queue: get,
        }),
      );
      return;
    }
    const list = Subjects.engineRunsList(this.config.id);
    this.subscriptions.push(
      this.transport.serve<EngineRunsListRequest, EngineRunsListReply<RunSummary>>(list, (r) => this.list(r), {
        queue: list,
      }),
      this.transport.serve<EngineRunGetRequest, EngineRunGetReply<RunRecord>>(get, (r) => this.get(r), { queue: get }),
    );
  }

  onApplicationShutdown(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  async list(request: EngineRunsListRequest): Promise<EngineRunsListReply<RunSummary>> {
    const r = request ?? {};
    if (r.status !== undefined && !RUN_STATUSES.includes(r.status as RunStatus)) {
      throw new YunbianError('BAD_REQUEST', `status must be one of ${RUN_STATUSES.join(', ')} (got "${r.status}")`);
    }
    if (r.after !== undefined && (typeof r.after?.createdAt !== 'string' || typeof r.after?.id !== 'string')) {
      throw new YunbianError('BAD_REQUEST', 'after must be { "createdAt": "<ISO time>", "id": "<run id>" }');
    }
    const limit = Math.min(Number.isInteger(r.limit) && r.limit! >= 0 ? r.limit! : 100, 1_000);
    await this.engine.ready;
    const runs = this.engine
      .list({ workflow: r.workflow, status: r.status as RunStatus | undefined, limit: 1_000 })
      .map((run) => boundedSummary(run));
    return pageOfRuns(runs, { after: r.after, limit, budgetBytes: replyBudget(this.transport) });
  }

  /** A cloud replica's answer: the run when this replica holds it (in memory), nothing otherwise. */
  async held(request: EngineRunGetRequest): Promise<EngineRunGetReply<RunRecord>> {
    if (typeof request?.id !== 'string') throw new YunbianError('BAD_REQUEST', 'expected { "id": "<run id>" }');
    await this.engine.ready;
    if (!this.engine.holds(request.id)) return {};
    return { run: await this.engine.find(request.id) };
  }

  async get(request: EngineRunGetRequest): Promise<EngineRunGetReply<RunRecord>> {
    if (typeof request?.id !== 'string') throw new YunbianError('BAD_REQUEST', 'expected { "id": "<run id>" }');
    await this.engine.ready;
    let run: RunRecord;
    try {
      run = await this.engine.find(request.id);
    } catch (err) {
      if (err instanceof YunbianError && err.code === 'NOT_FOUND') return {};
      throw err;
    }
    return { run: forCloud(run, this.config, this.transport) };
  }
}

/** A run's summary, its error cut to its code and the start of its message when it is very large. */
function boundedSummary(run: RunRecord): RunSummary {
  const summary = runSummary(run);
  if (summary.error && JSON.stringify(summary.error).length > SUMMARY_ERROR_BYTES) {
    summary.error = { code: summary.error.code, message: `${summary.error.message.slice(0, 4_000)}…` };
  }
  return summary;
}
