import type { InstanceResources, NodeDescriptor } from '@yunbian/contracts';
import { nodeCpuCapacity } from '@yunbian/contracts';

/**
 * Nodes of one *class* run a service at the same speed: same architecture, same hardware tags,
 * and the same CPU for the instance. Compute profiles are learnt and kept per class, so a
 * timing observed on a 0.25-core device says nothing about a 4-core edge server with the same
 * tags (and the other way round), while two identical boxes share what either learnt.
 */
export interface NodeClass {
  arch?: string;
  tags: readonly string[];
  /** CPU cores the instance really gets. */
  cpu: number;
}

/**
 * CPU cores an instance really gets on a node: the least of its own `resources.cpu`, the node's
 * `limits.cpu` and the node's cores (a quota above what the machine has buys nothing).
 */
export function effectiveCpu(
  node: Pick<NodeDescriptor, 'cpuCores' | 'limits'>,
  resources?: Pick<InstanceResources, 'cpu'>,
): number {
  return Math.min(nodeCpuCapacity(node), resources?.cpu ?? Infinity);
}

/** The string compute profiles are keyed by: `arch|tag,tag|cpu` (tags sorted, CPU to 1/1000 core). */
export function nodeClassKey(nodeClass: NodeClass): string {
  const tags = nodeClass.tags.length < 2 ? nodeClass.tags.join(',') : [...nodeClass.tags].sort().join(',');
  return `${nodeClass.arch ?? '?'}|${tags}|${Math.round(nodeClass.cpu * 1000) / 1000}`;
}

/**
 * How much longer CPU-bound work takes with `cpu` cores than with one whole core. Declared
 * profiles are times per unlimited core: a CFS quota of q cores gives the work q of every
 * period, so it takes 1/q as long (0.25 core: 4×). Above one core nothing is gained: a
 * service is assumed single-threaded (a request runs on one core; more cores serve more
 * requests at once, which `concurrency` and the queue model already count).
 */
export function cpuSlowdown(cpu: number | undefined): number {
  return cpu === undefined || !(cpu > 0) || cpu >= 1 ? 1 : 1 / cpu;
}

type ClassifiedNode = Pick<NodeDescriptor, 'arch' | 'tags' | 'cpuCores' | 'limits'>;
/** Keys per node record and CPU: routing builds candidates for every step attempt. */
const keys = new WeakMap<ClassifiedNode, Map<number, string>>();

/** The class key of an instance with `resources` on `node` (a catalogue record), kept per record. */
export function nodeClassOf(node: ClassifiedNode, resources?: Pick<InstanceResources, 'cpu'>): string {
  const cpu = effectiveCpu(node, resources);
  let byCpu = keys.get(node);
  if (!byCpu) keys.set(node, (byCpu = new Map()));
  let key = byCpu.get(cpu);
  if (key === undefined) byCpu.set(cpu, (key = nodeClassKey({ arch: node.arch, tags: node.tags, cpu })));
  return key;
}
