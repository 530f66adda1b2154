import {
  NODE_TIERS,
  Subjects,
  nodeCpuCapacity,
  type LatencyProfileOptions,
  type NodeClassLatency,
  type NodeRecord,
  type ProfileModelsReply,
  type ProfileModelsRequest,
  type ProfileTarget,
} from '@yunbian/contracts';
import type { ModelMeta } from '@yunbian/models';
import type { NatsTransport } from '@yunbian/transport';

/**
 * The per-node-class latency of a compression: parent and result timed side by side by one
 * live node of each class (tier). Shared by `POST …/compress` (CompressionService) and the
 * registry's `yb.cmd.models.register` with `profile` (a workflow's model-ops compress).
 */

/** speedup per batch size: parent median / compressed median. */
export function speedups(reply: ProfileModelsReply): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of reply.results.parent ?? []) {
    const c = reply.results.compressed?.find((x) => x.batch === p.batch);
    if (c && c.medianMs > 0) out[String(p.batch)] = Math.round((p.medianMs / c.medianMs) * 1000) / 1000;
  }
  return out;
}

/** What each node is asked: both models at batch 1 and `batchSize` (default 64), `runs` timed runs (default 200, a tenth at the batch). */
export function profileRequest(
  parent: ProfileTarget,
  compressed: ProfileTarget,
  o: LatencyProfileOptions,
  timeoutMs: number,
): ProfileModelsRequest {
  const batch = o.batchSize ?? 64;
  return {
    models: [parent, compressed],
    batchSizes: [1, batch],
    runs: { '1': o.runs ?? 200, [String(batch)]: Math.max(5, Math.round((o.runs ?? 200) / 10)) },
    timeoutMs,
  };
}

/** The most constrained live node of a class: what the class guarantees. */
export function nodeOfClass(nodes: NodeRecord[], nodeClass: string): NodeRecord | undefined {
  return nodes
    .filter((n) => n.tier === nodeClass && n.status === 'alive')
    .sort((a, b) => nodeCpuCapacity(a) - nodeCpuCapacity(b) || a.id.localeCompare(b.id))[0];
}

export interface NodeLatencyDeps {
  nodes: () => NodeRecord[];
  /** Asks one node to profile (`Subjects.nodeProfileModels`). */
  profile: (nodeId: string, request: ProfileModelsRequest) => Promise<ProfileModelsReply>;
  /** Told before each node is asked (a job's stage). */
  measuring?: (nodeId: string, nodeClass: string) => void;
}

/**
 * Parent (label `parent`) and compressed (label `compressed`) on one node per requested class
 * (default device, edge, cloud); a class with no live node, or whose node did not answer, says
 * so with `measured: false` and why.
 */
export async function measureNodeClasses(
  deps: NodeLatencyDeps,
  parent: ProfileTarget,
  compressed: ProfileTarget,
  o: LatencyProfileOptions,
  timeoutMs: number,
): Promise<NodeClassLatency[]> {
  const request = profileRequest({ ...parent, label: 'parent' }, { ...compressed, label: 'compressed' }, o, timeoutMs);
  const out: NodeClassLatency[] = [];
  for (const nodeClass of o.nodeClasses ?? [...NODE_TIERS]) {
    const node = nodeOfClass(deps.nodes(), nodeClass);
    if (!node) {
      out.push({ nodeClass, measured: false, reason: `not measured: no live node of class ${nodeClass}` });
      continue;
    }
    deps.measuring?.(node.id, nodeClass);
    try {
      const reply = await deps.profile(node.id, request);
      out.push({
        nodeClass,
        measured: true,
        nodeId: reply.nodeId,
        cpu: reply.cpu,
        cpuEnforced: reply.cpuEnforced,
        parent: reply.results.parent,
        compressed: reply.results.compressed,
        speedup: speedups(reply),
      });
    } catch (err) {
      out.push({
        nodeClass,
        measured: false,
        reason: `not measured: node ${node.id} did not profile (${(err as Error).message})`,
      });
    }
  }
  return out;
}

/** A registered version as a profile target. */
export function registeredTarget(meta: ModelMeta, label = 'parent'): ProfileTarget {
  return { label, bucket: meta.object.bucket, object: meta.object.name, sha256: meta.sha256 };
}

/** `NodeLatencyDeps.profile` over NATS, waiting the node's bound and a little more. */
export function profileOverNats(transport: NatsTransport, timeoutMs: number): NodeLatencyDeps['profile'] {
  return (nodeId, request) =>
    transport.request<ProfileModelsReply>(Subjects.nodeProfileModels(nodeId), request, {
      timeoutMs: timeoutMs + 10_000,
    });
}
