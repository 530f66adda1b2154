import type { ErrorCode, InstanceRecord, NodeRecord, ServiceDescriptor } from '@yunbian/contracts';
import { serviceRef } from '@yunbian/contracts';

export interface AdmissionProblem {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

const MB = (n: number) => `${n} MiB`;

/**
 * Whether `service` may start on `node` now: the node is alive, its library has the
 * service, and it meets the service's tier, hardware-tag and memory requirements.
 * Memory is counted against what instances already on the node reserve.
 */
export function checkAdmission(
  node: NodeRecord,
  service: ServiceDescriptor,
  instancesOnNode: InstanceRecord[],
  reservationOf: (instance: InstanceRecord) => number,
): AdmissionProblem[] {
  const ref = serviceRef(service);
  const problems: AdmissionProblem[] = [];
  if (node.status !== 'alive') {
    problems.push({
      code: 'CONFLICT',
      message: `node ${node.id} is ${node.status}${node.statusReason ? ` (${node.statusReason})` : ''}; choose an alive node`,
      details: { node: node.id, status: node.status },
    });
  }
  if (!node.services.includes(ref)) {
    problems.push({
      code: 'UNSATISFIABLE',
      message: `node ${node.id} cannot run ${ref}: its service library has ${node.services.join(', ') || 'no services'}`,
      details: { node: node.id, service: ref },
    });
  }
  const req = service.requirements;
  if (req.tier && req.tier !== node.tier) {
    problems.push({
      code: 'UNSATISFIABLE',
      message: `${ref} must run on a ${req.tier} node; node ${node.id} is ${node.tier}`,
      details: { node: node.id, requiredTier: req.tier, tier: node.tier },
    });
  }
  const missing = (req.tags ?? []).filter((t) => !node.tags.includes(t));
  if (missing.length) {
    problems.push({
      code: 'UNSATISFIABLE',
      message: `node ${node.id} lacks hardware tag${missing.length > 1 ? 's' : ''} ${missing.join(', ')} required by ${ref} (node has: ${node.tags.join(', ') || 'no tags'})`,
      details: { node: node.id, missingTags: missing, nodeTags: node.tags },
    });
  }
  const need = req.memoryMb ?? 0;
  const reserved = instancesOnNode.reduce((sum, i) => sum + reservationOf(i), 0);
  const free = node.memoryMb - reserved;
  if (need > free) {
    problems.push({
      code: 'UNSATISFIABLE',
      message: `${ref} needs ${MB(need)} of memory but node ${node.id} has ${MB(free)} free (${MB(node.memoryMb)} total, ${MB(reserved)} reserved by ${instancesOnNode.length} instance${instancesOnNode.length === 1 ? '' : 's'})`,
      details: { node: node.id, neededMb: need, freeMb: free, totalMb: node.memoryMb, reservedMb: reserved },
    });
  }
  return problems;
}
