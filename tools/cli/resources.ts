import type { InstanceRecord, NodeRecord, ServiceRecord } from '@yunbian/contracts';
import type { ModelMeta } from '@yunbian/models';
import type { runView } from '../../apps/orchestrator/src/workflows/run-view';
import { CliError } from './cli-error';
import { age, bytes, duration, type Column } from './format';

/** GET /runs/{id} as the orchestrator answers it. */
export type RunDetail = ReturnType<typeof runView>;
export type StepView = RunDetail['steps'][number];
export type RunSummary = Omit<RunDetail, 'steps' | 'input' | 'output'>;

/** GET /workflows: the latest version of each. */
export interface WorkflowSummary {
  name: string;
  version: number;
  description?: string;
  createdAt: string;
}

/** A kind of thing `yb get` lists: its route and its table. */
interface Resource<T> {
  route: string;
  columns: (now: number) => Column<T>[];
}

const nodes: Resource<NodeRecord> = {
  route: '/nodes',
  columns: (now) => [
    { header: 'id', value: (n) => n.id },
    { header: 'site', value: (n) => n.site },
    { header: 'tier', value: (n) => n.tier },
    { header: 'status', value: (n) => n.status },
    { header: 'tags', value: (n) => n.tags },
    { header: 'cpu', value: (n) => (n.load ? `${Math.round(n.load.cpuPercent)}%` : undefined) },
    { header: 'memory', value: (n) => `${n.memoryMb}MB` },
    // What the agent and its workers hold (NodeLoad.memoryUsedMb), not the machine's use.
    { header: 'yb-rss', value: (n) => n.load && `${Math.round(n.load.memoryUsedMb)}MB` },
    { header: 'cost/h', value: (n) => n.costPerHour },
    { header: 'heartbeat', value: (n) => age(n.lastHeartbeatAt, now) },
  ],
};

const services: Resource<ServiceRecord> = {
  route: '/services',
  columns: () => [
    { header: 'name', value: (s) => s.name },
    { header: 'version', value: (s) => s.version },
    { header: 'kind', value: (s) => s.kind },
    { header: 'nodes', value: (s) => s.nodes },
    { header: 'instances', value: (s) => `${s.instances.ready}/${s.instances.total}` },
    { header: 'description', value: (s) => s.description, max: 50 },
  ],
};

const instances: Resource<InstanceRecord> = {
  route: '/instances',
  columns: (now) => [
    { header: 'id', value: (i) => i.id },
    { header: 'service', value: (i) => `${i.service}@${i.version}` },
    { header: 'node', value: (i) => i.nodeId },
    { header: 'status', value: (i) => i.status },
    { header: 'in-flight', value: (i) => i.inFlight },
    { header: 'queued', value: (i) => i.queued },
    { header: 'restarts', value: (i) => i.restarts },
    { header: 'age', value: (i) => age(i.startedAt, now) },
  ],
};

const workflows: Resource<WorkflowSummary> = {
  route: '/workflows',
  columns: (now) => [
    { header: 'name', value: (w) => w.name },
    { header: 'version', value: (w) => w.version },
    { header: 'created', value: (w) => age(w.createdAt, now) },
    { header: 'description', value: (w) => w.description, max: 50 },
  ],
};

const runs: Resource<RunSummary> = {
  route: '/runs',
  columns: (now) => [
    { header: 'id', value: (r) => r.id },
    { header: 'workflow', value: (r) => `${r.workflow.name}@${r.workflow.version}` },
    { header: 'status', value: (r) => r.status },
    {
      header: 'engine',
      // The cloud engine is one; a site or embedded engine is told apart by its site.
      value: (r) =>
        r.executedBy && (r.executedBy.kind === 'cloud' ? 'cloud' : `${r.executedBy.kind}@${r.executedBy.site}`),
    },
    { header: 'started', value: (r) => age(r.createdAt, now) },
    { header: 'took', value: (r) => duration(r.createdAt, r.finishedAt) },
    { header: 'error', value: (r) => r.error?.message, max: 60 },
  ],
};

const models: Resource<ModelMeta> = {
  route: '/models',
  columns: (now) => [
    { header: 'name', value: (m) => m.name },
    { header: 'version', value: (m) => m.version },
    { header: 'size', value: (m) => bytes(m.size) },
    { header: 'inputs', value: (m) => m.inputs.map((i) => i.name) },
    { header: 'outputs', value: (m) => m.outputs.map((o) => o.name) },
    { header: 'derived', value: (m) => m.derivedFrom && `${m.derivedFrom.recipe} of v${m.derivedFrom.version}` },
    { header: 'created', value: (m) => age(m.createdAt, now) },
  ],
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a table of differently typed resources
export const RESOURCES: Record<string, Resource<any>> = { nodes, services, instances, workflows, runs, models };

/** `node`, `nodes`, `NODES` … → the resource's name; a CliError listing the accepted ones otherwise. */
export function resourceName(raw: string): string {
  const lower = raw.toLowerCase();
  const name = Object.keys(RESOURCES).find((r) => r === lower || r === `${lower}s`);
  if (!name) throw new CliError(`yb get ${raw}: unknown resource; accepted are ${Object.keys(RESOURCES).join(', ')}`);
  return name;
}
