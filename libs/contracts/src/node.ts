import { NODE_TIERS, type NodeTier } from '../../../packages/service-sdk/src/vocabulary';
// Defined with the service vocabulary (a service's requirements name a tier).
export { NODE_TIERS, type NodeTier } from '../../../packages/service-sdk/src/vocabulary';

/** What a node may give its instances altogether (less than the machine has, or a slice of it). */
export interface NodeLimits {
  /** CPU cores, fractional (0.25 is a quarter of one core's time). */
  cpu?: number;
  memoryMb?: number;
}

/** What one instance gets: a CPU share and a memory cap, reserved on its node at admission. */
export interface InstanceResources {
  /** CPU cores, fractional. */
  cpu?: number;
  memoryMb?: number;
}

/**
 * Whether a node's agent enforces limits and instance resources (cgroups) or only reports them.
 * `cpu`/`memory` say which controllers are enforced; `reason` says why one or both are not.
 */
export interface LimitsEnforcement {
  mode: 'enforced' | 'advisory';
  reason?: string;
  cpu: boolean;
  memory: boolean;
}

/** What a node declares about itself when its agent joins. */
export interface NodeDescriptor {
  /** Unique node id; one NATS subject token. */
  id: string;
  /** Location: a cloud region or an edge site; nodes of one site share a LAN. */
  site: string;
  tier: NodeTier;
  arch: string;
  /** Hardware tags: gpu, npu, cuda, arm64, camera… */
  tags: string[];
  cpuCores: number;
  memoryMb: number;
  /** Price of the node per hour, in the operator's currency. */
  costPerHour: number;
  labels: Record<string, string>;
  /** Declared uplink bandwidth, used by placement until measured. */
  bandwidthMbps?: number;
  /** What the node may give its instances altogether; absent: all of cpuCores and memoryMb. */
  limits?: NodeLimits;
}

/** JSON Schema of a node descriptor, used to validate files and env at the agent's edge. */
/** CPU and memory amounts, as node `limits` and instance `resources` both state them. */
const RESOURCE_AMOUNTS = {
  cpu: { type: 'number', exclusiveMinimum: 0, description: 'CPU cores, fractional (0.25 = a quarter core)' },
  memoryMb: { type: 'integer', minimum: 16 },
} as const;

export const NODE_DESCRIPTOR_SCHEMA = {
  $id: 'https://yunbian.dev/schemas/node-descriptor.json',
  title: 'Yunbian node descriptor',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'site', 'tier', 'arch', 'cpuCores', 'memoryMb', 'costPerHour'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'letters, digits, - and _' },
    site: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    tier: { enum: [...NODE_TIERS] },
    arch: { type: 'string', minLength: 1 },
    tags: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' },
      uniqueItems: true,
      default: [],
    },
    cpuCores: { type: 'number', exclusiveMinimum: 0 },
    memoryMb: { type: 'integer', minimum: 16 },
    costPerHour: { type: 'number', minimum: 0 },
    labels: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    bandwidthMbps: { type: 'number', exclusiveMinimum: 0 },
    limits: {
      type: 'object',
      additionalProperties: false,
      description: 'what the node may give its instances altogether',
      properties: RESOURCE_AMOUNTS,
    },
  },
} as const;

/** JSON Schema of an instance's `resources` (POST /instances). */
export const INSTANCE_RESOURCES_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description: 'CPU share and memory cap of the instance, reserved on its node',
  properties: RESOURCE_AMOUNTS,
} as const;

/** CPU cores a node offers its instances: its limit, else its cores. */
export const nodeCpuCapacity = (node: Pick<NodeDescriptor, 'cpuCores' | 'limits'>): number =>
  Math.min(node.cpuCores, node.limits?.cpu ?? Infinity);

/** Memory a node offers its instances, MiB: its limit, else its memory. */
export const nodeMemoryCapacityMb = (node: Pick<NodeDescriptor, 'memoryMb' | 'limits'>): number =>
  Math.min(node.memoryMb, node.limits?.memoryMb ?? Infinity);
