export const NODE_TIERS = ['edge', 'cloud'] as const;
export type NodeTier = (typeof NODE_TIERS)[number];

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
}

/** JSON Schema of a node descriptor, used to validate files and env at the agent's edge. */
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
  },
} as const;
