import type { ErrorCode, InstanceRecord, InstanceResources, NodeRecord, ServiceDescriptor } from '@yunbian/contracts';
import { nodeCpuCapacity, nodeMemoryCapacityMb, serviceRef } from '@yunbian/contracts';

export interface AdmissionProblem {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** What one instance holds of its node's capacity. */
export interface Reservation {
  memoryMb: number;
  /** CPU cores; 0 for an instance started without `resources.cpu` (it shares what is left). */
  cpu: number;
}

const MB = (n: number) => `${n} MiB`;
const cores = (n: number) => `${round(n)} core${round(n) === 1 ? '' : 's'}`;
const round = (n: number) => Math.round(n * 1000) / 1000;
const count = (n: number) => `${n} instance${n === 1 ? '' : 's'}`;

/**
 * What an instance reserves: its `resources` when it was started with them, else its service's
 * `requirements.memoryMb` (and no CPU: like a pod without requests, it shares what is left).
 */
export function reservationOf(
  instance: Pick<InstanceRecord, 'resources'>,
  service: Pick<ServiceDescriptor, 'requirements'> | undefined,
): Reservation {
  return {
    memoryMb: instance.resources?.memoryMb ?? service?.requirements.memoryMb ?? 0,
    cpu: instance.resources?.cpu ?? 0,
  };
}

/**
 * Whether `service` may start on `node` now, with `resources` if given: the node is alive,
 * its library has the service, it meets the service's tier, hardware-tag and memory
 * requirements, and the instance's memory and CPU fit in what the node offers (its `limits`,
 * else its memory and cores) minus what instances already on the node reserve.
 */
export function checkAdmission(
  node: NodeRecord,
  service: ServiceDescriptor,
  instancesOnNode: InstanceRecord[],
  reservation: (instance: InstanceRecord) => Reservation,
  resources: InstanceResources = {},
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
  const reserved = instancesOnNode.map(reservation);
  problems.push(...memoryProblems(node, ref, req.memoryMb, resources.memoryMb, instancesOnNode.length, reserved));
  problems.push(...cpuProblems(node, ref, resources.cpu, instancesOnNode.length, reserved));
  return problems;
}

function memoryProblems(
  node: NodeRecord,
  ref: string,
  required: number | undefined,
  requested: number | undefined,
  others: number,
  reserved: Reservation[],
): AdmissionProblem[] {
  if (requested !== undefined && required !== undefined && requested < required) {
    // The cap would be below what the service says it needs: it would be killed for memory.
    return [
      {
        code: 'UNSATISFIABLE',
        message: `resources.memoryMb ${MB(requested)} is less than the ${MB(required)} ${ref} requires; raise resources.memoryMb to at least ${required}, or omit it`,
        details: { pointer: '/resources/memoryMb', requestedMb: requested, requiredMb: required },
      },
    ];
  }
  const need = requested ?? required ?? 0;
  const capacity = nodeMemoryCapacityMb(node);
  const used = reserved.reduce((sum, r) => sum + r.memoryMb, 0);
  const free = capacity - used;
  if (need <= free) return [];
  const total = capacity < node.memoryMb ? `${MB(capacity)} limit of ${MB(node.memoryMb)}` : `${MB(capacity)} total`;
  const change =
    requested !== undefined && free > 0 && (required ?? 0) <= free
      ? `lower resources.memoryMb to at most ${free}, choose another node or stop an instance there`
      : 'choose another node or stop an instance there';
  return [
    {
      code: 'UNSATISFIABLE',
      message: `${ref} needs ${MB(need)} of memory but node ${node.id} has ${MB(free)} free (${total}, ${MB(used)} reserved by ${count(others)}); ${change}`,
      details: {
        node: node.id,
        neededMb: need,
        freeMb: free,
        totalMb: node.memoryMb,
        limitMb: node.limits?.memoryMb,
        reservedMb: used,
      },
    },
  ];
}

function cpuProblems(
  node: NodeRecord,
  ref: string,
  requested: number | undefined,
  others: number,
  reserved: Reservation[],
): AdmissionProblem[] {
  if (requested === undefined) return [];
  const capacity = nodeCpuCapacity(node);
  const source = node.limits?.cpu !== undefined && node.limits.cpu < node.cpuCores ? 'limits.cpu' : 'cpuCores';
  if (requested > capacity + 1e-9) {
    return [
      {
        code: 'UNSATISFIABLE',
        message: `resources.cpu ${requested} is more than node ${node.id} gives its instances (${cores(capacity)}, its ${source}); lower resources.cpu to at most ${round(capacity)} or choose a bigger node`,
        details: { pointer: '/resources/cpu', node: node.id, requestedCpu: requested, capacityCpu: capacity },
      },
    ];
  }
  const used = reserved.reduce((sum, r) => sum + r.cpu, 0);
  const free = Math.max(0, capacity - used);
  if (requested <= free + 1e-9) return [];
  return [
    {
      code: 'UNSATISFIABLE',
      message: `${ref} asks for ${cores(requested)} but node ${node.id} has ${cores(free)} free (${cores(capacity)} from its ${source}, ${cores(used)} reserved by ${count(others)}); ${free > 0 ? `lower resources.cpu to at most ${round(free)}, ` : ''}choose another node or stop an instance there`,
      details: {
        node: node.id,
        requestedCpu: requested,
        freeCpu: round(free),
        capacityCpu: capacity,
        reservedCpu: round(used),
      },
    },
  ];
}
