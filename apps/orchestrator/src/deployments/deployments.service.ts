import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { formatIssues, JsonLogger } from '@yunbian/common';
import type { DeploymentRecord, DeploymentSpec } from '@yunbian/contracts';
import { assertInstanceModel } from '@yunbian/models';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { DeploymentStore } from './deployment-store';
import { deploymentSpecIssues } from './deployments.schemas';
import type { DeploymentMemory } from './reconcile-plan';

/** The template of a deployment's instances: a change replaces its replicas. */
const template = (spec: DeploymentSpec) => JSON.stringify([spec.service, spec.config ?? {}, spec.resources ?? {}]);

/**
 * The declared deployments, held in memory and stored in JetStream KV (`yb-deployments`), and
 * what the reconciler remembers about each. Cloud only: a site-mode orchestrator neither
 * stores nor reconciles deployments (the cloud's reconciler places replicas at every site).
 */
@Injectable()
export class DeploymentsService implements OnModuleInit {
  private readonly logger = new JsonLogger('deployments');
  private readonly records = new Map<string, DeploymentRecord>();
  private readonly memory = new Map<string, DeploymentMemory>();
  private store?: DeploymentStore;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) readonly engine: EngineConfig,
    @Inject(CatalogService) private readonly catalog: CatalogService,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.engine.mode === 'site') return;
    this.store = await DeploymentStore.open(this.transport);
    const { records, memory } = await this.store.load();
    for (const r of records) this.records.set(r.spec.name, r);
    for (const [name, m] of memory) if (this.records.has(name)) this.memory.set(name, m);
    this.logger.info('deployments restored', { deployments: records.length });
  }

  /** Throws for a site-mode orchestrator, saying where deployments live. */
  assertCloud(): void {
    this.catalog.assertAuthority('keep deployments (the cloud orchestrator declares and reconciles them)');
  }

  list(): DeploymentRecord[] {
    return [...this.records.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  get(name: string): DeploymentRecord {
    const record = this.records.get(name);
    if (!record) {
      throw new YunbianError(
        'NOT_FOUND',
        `unknown deployment "${name}"; deployments: ${[...this.records.keys()].sort().join(', ') || 'none'}`,
      );
    }
    return record;
  }

  has(name: string): boolean {
    return this.records.has(name);
  }

  memoryOf(name: string): DeploymentMemory | undefined {
    return this.memory.get(name);
  }

  /** Checks a spec beyond its schema; 400 listing every problem by JSON pointer. */
  validate(spec: DeploymentSpec): void {
    const issues = deploymentSpecIssues(spec);
    if (issues.length)
      throw new YunbianError('VALIDATION_FAILED', `request body is invalid: ${formatIssues(issues)}`, { issues });
  }

  /** 404/400 when the spec's `config.model` names no registered model version (listing those that exist). */
  async checkModel(spec: DeploymentSpec): Promise<void> {
    await assertInstanceModel(this.transport, spec.config, '/config/model');
  }

  /** Deployments whose instance config serves model `name` (`config.model` is `name` or `name@version`). */
  servingModel(name: string): string[] {
    return this.list()
      .filter((r) => {
        const model = r.spec.config?.model;
        return typeof model === 'string' && model.split('@')[0] === name;
      })
      .map((r) => r.spec.name);
  }

  /** The record `spec` would be stored as (not stored): a new one, or the next of an existing one. */
  prepare(spec: DeploymentSpec, mode: 'create' | 'replace'): DeploymentRecord {
    this.assertCloud();
    this.validate(spec);
    const existing = this.records.get(spec.name);
    if (existing && mode === 'create') {
      throw new YunbianError(
        'CONFLICT',
        `deployment ${spec.name} exists; change it with PUT /deployments/${spec.name} or delete it first`,
      );
    }
    const now = new Date().toISOString();
    if (!existing) return { spec, revision: 1, createdAt: now, updatedAt: now };
    const revision = template(existing.spec) === template(spec) ? existing.revision : existing.revision + 1;
    return { spec, revision, createdAt: existing.createdAt, updatedAt: now };
  }

  async save(record: DeploymentRecord): Promise<void> {
    await this.store!.save(record);
    this.records.set(record.spec.name, record);
    this.logger.info('deployment stored', { deployment: record.spec.name, revision: record.revision });
  }

  async delete(name: string): Promise<DeploymentRecord> {
    this.assertCloud();
    const record = this.get(name);
    await this.store!.delete(name);
    this.records.delete(name);
    this.memory.delete(name);
    this.logger.info('deployment deleted', { deployment: name });
    return record;
  }

  /** Remembers what the reconciler keeps, storing it when it changed. */
  remember(name: string, memory: DeploymentMemory): void {
    if (!this.records.has(name)) return;
    const before = this.memory.get(name);
    if (before && JSON.stringify(before) === JSON.stringify(memory)) return;
    this.memory.set(name, memory);
    this.store
      ?.saveMemory(name, memory)
      .catch((err: Error) =>
        this.logger.warn('deployment memory write failed', { deployment: name, error: err.message }),
      );
  }
}
