import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { JsonLogger } from '@yunbian/common';
import { AUDIT_STREAM, AUDIT_SUBJECT_PREFIX, type AuditEntry } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { AUDIT_SCAN_LIMIT, selectAudit, type AuditQuery } from './audit-query';
import { AUTH_CONFIG, type AuthConfig } from './auth-tokens';

/**
 * The audit log: entries appended to the JetStream stream `yb-audit` (file storage, limits
 * from YUNBIAN_AUDIT_MAX_AGE_H / YUNBIAN_AUDIT_MAX_BYTES), shared by every replica. Other
 * code records its own entries with `record` (kind names the recorder, e.g. `model`).
 */
@Injectable()
export class AuditService implements OnModuleInit {
  private readonly logger = new JsonLogger('audit');
  private ready?: Promise<void>;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {}

  /** The stream exists before the orchestrator listens; a site engine (possibly cut off) makes sure of it on first use. */
  async onModuleInit(): Promise<void> {
    if (!this.transport.jetStreamDomain) await this.ensureStream();
    else
      this.ensureStream().catch((err: Error) =>
        this.logger.warn('audit stream unreachable for now; retried on use', { error: err.message }),
      );
  }

  private ensureStream(): Promise<void> {
    this.ready ??= (async () => {
      const jsm = await this.manager();
      const limits = {
        max_age: this.config.auditMaxAgeHours * 3_600 * 1e9,
        max_bytes: this.config.auditMaxBytes,
      };
      try {
        const info = await jsm.streams.info(AUDIT_STREAM);
        if (info.config.max_age !== limits.max_age || info.config.max_bytes !== limits.max_bytes)
          await jsm.streams.update(AUDIT_STREAM, { ...info.config, ...limits });
      } catch {
        await jsm.streams.add({
          name: AUDIT_STREAM,
          subjects: [`${AUDIT_SUBJECT_PREFIX}.>`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          ...limits,
          description: 'Yunbian audit log: mutating REST calls and recorded refusals',
        });
      }
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private manager() {
    const domain = this.transport.jetStreamDomain;
    return jetstreamManager(this.transport.connection, domain ? { domain } : {});
  }

  /** Appends an entry; a failure is logged, never thrown at the caller (the audited call already happened). */
  async record(entry: AuditEntry): Promise<void> {
    try {
      await this.ensureStream();
      const kind = /^[a-z0-9-]{1,32}$/.test(entry.kind) ? entry.kind : 'other';
      await this.transport.jetstream().publish(`${AUDIT_SUBJECT_PREFIX}.${kind}`, JSON.stringify(entry));
    } catch (err) {
      this.logger.warn('audit entry not stored', { error: (err as Error).message, action: entry.action });
    }
  }

  /** Entries answering `query`, oldest first (at most AUDIT_SCAN_LIMIT are read). */
  async query(query: AuditQuery): Promise<AuditEntry[]> {
    await this.ensureStream();
    const jsm = await this.manager();
    const { state } = await jsm.streams.info(AUDIT_STREAM);
    if (state.messages === 0) return [];
    const js = this.transport.jetstream();
    const consumer = await js.consumers.get(
      AUDIT_STREAM,
      query.since
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: query.since.toISOString() }
        : {
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: Math.max(state.first_seq, state.last_seq - AUDIT_SCAN_LIMIT + 1),
          },
    );
    const entries: AuditEntry[] = [];
    try {
      // As many as were there when asked (entries keep arriving on a busy server), bounded.
      const pending = Math.min((await consumer.info()).num_pending, AUDIT_SCAN_LIMIT);
      while (entries.length < pending) {
        const batch = await consumer.fetch({ max_messages: Math.min(500, pending - entries.length), expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          entries.push({ ...m.json<AuditEntry>(), seq: m.seq });
        }
        if (got === 0) break;
        if (query.since && selectAudit(entries, query).length >= query.limit) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return selectAudit(entries, query);
  }
}
