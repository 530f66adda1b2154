/**
 * The testbed's topology file: sites (one cloud site, edge sites, device sites), each
 * non-cloud site's uplink (to the cloud, or for a device site to its edge site) and the
 * nodes of every site. Validated with the same Ajv conventions as node descriptors, so an
 * error names the field by JSON pointer and says what is accepted.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { createAjv, formatIssues, schemaIssues, type SchemaIssue } from '@yunbian/common';
import { NODE_DESCRIPTOR_SCHEMA, type NodeTier } from '@yunbian/contracts';

export const SITE_KINDS = ['cloud', 'edge', 'device'] as const;
export type SiteKind = (typeof SITE_KINDS)[number];

export interface LinkShape {
  /** Site → uplink, Mbit/s. */
  upMbps: number;
  /** Uplink → site, Mbit/s. */
  downMbps: number;
  /** Round trip added by the link, ms (half each way). */
  rttMs: number;
  /** Packets dropped at random on the link, % (both directions). */
  lossPercent?: number;
}

export interface Uplink extends LinkShape {
  /** The site this one connects to: the cloud site, or for a device site its edge site. */
  to: string;
}

export interface TopologyNode {
  id: string;
  tier: NodeTier;
  arch?: string;
  tags: string[];
  cpuCores?: number;
  memoryMb?: number;
  costPerHour: number;
  labels?: Record<string, string>;
  bandwidthMbps?: number;
  limits?: { cpu?: number; memoryMb?: number };
}

export interface TopologySite {
  name: string;
  kind: SiteKind;
  uplink?: Uplink;
  nodes: TopologyNode[];
}

export interface Topology {
  name: string;
  sites: TopologySite[];
}

const NAME = '^[A-Za-z0-9_-]{1,64}$';
// Network namespace names are `yb-<site>`; keep them readable in `ip netns list`.
const SITE_NAME = '^[A-Za-z0-9_-]{1,40}$';

const LINK_PROPERTIES = {
  upMbps: { type: 'number', exclusiveMinimum: 0, maximum: 10000 },
  downMbps: { type: 'number', exclusiveMinimum: 0, maximum: 10000 },
  rttMs: { type: 'number', minimum: 0, maximum: 10000 },
  lossPercent: { type: 'number', minimum: 0, maximum: 100 },
} as const;

/**
 * A node in a topology: the node descriptor's fields but `site` (where it is listed says that),
 * with defaults for what a testbed node need not state.
 */
const { site: _site, ...DESCRIPTOR_PROPERTIES } = NODE_DESCRIPTOR_SCHEMA.properties;
const TOPOLOGY_NODE_PROPERTIES = {
  ...DESCRIPTOR_PROPERTIES,
  costPerHour: { ...DESCRIPTOR_PROPERTIES.costPerHour, default: 0 },
  labels: { type: 'object', additionalProperties: { type: 'string' } },
} as const;

export const TOPOLOGY_SCHEMA = {
  title: 'Yunbian testbed topology',
  type: 'object',
  additionalProperties: false,
  required: ['sites'],
  properties: {
    name: { type: 'string', pattern: NAME, default: 'testbed' },
    sites: {
      type: 'array',
      minItems: 1,
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'kind', 'nodes'],
        properties: {
          name: { type: 'string', pattern: SITE_NAME },
          kind: { enum: [...SITE_KINDS] },
          uplink: {
            type: 'object',
            additionalProperties: false,
            required: ['to', 'upMbps', 'downMbps', 'rttMs'],
            properties: { to: { type: 'string', pattern: SITE_NAME }, ...LINK_PROPERTIES },
          },
          nodes: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id'],
              properties: TOPOLOGY_NODE_PROPERTIES,
            },
          },
        },
      },
    },
  },
} as const;

const validate = createAjv({ useDefaults: true }).compile(TOPOLOGY_SCHEMA);

export class TopologyError extends Error {
  constructor(
    readonly source: string,
    readonly issues: SchemaIssue[],
  ) {
    super(`invalid testbed topology (${source}): ${formatIssues(issues)}`);
    this.name = 'TopologyError';
  }
}

/**
 * Validates a parsed topology document and fills defaults (node tier = the site's kind,
 * costPerHour 0, tags []). Throws a `TopologyError` listing every problem by JSON pointer.
 */
export function parseTopology(raw: unknown, source: string): Topology {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TopologyError(source, [{ pointer: '/', message: 'must be an object with a "sites" list' }]);
  }
  const doc = structuredClone(raw) as Record<string, unknown>;
  if (!validate(doc)) throw new TopologyError(source, schemaIssues(validate, doc));
  const topology = doc as unknown as Topology;
  const issues: SchemaIssue[] = [];
  const sites = new Map<string, { site: TopologySite; index: number }>();
  const nodeIds = new Map<string, string>();

  topology.sites.forEach((site, i) => {
    if (sites.has(site.name)) {
      issues.push({
        pointer: `/sites/${i}/name`,
        message: `"${site.name}" is the name of another site; names must be unique`,
      });
    } else sites.set(site.name, { site, index: i });
    site.nodes.forEach((node, j) => {
      node.tier ??= site.kind;
      const other = nodeIds.get(node.id);
      if (other !== undefined) {
        issues.push({
          pointer: `/sites/${i}/nodes/${j}/id`,
          message: `"${node.id}" is already a node of site ${other}; node ids must be unique`,
        });
      } else nodeIds.set(node.id, site.name);
    });
  });

  const clouds = topology.sites.filter((s) => s.kind === 'cloud');
  if (clouds.length !== 1) {
    issues.push({
      pointer: '/sites',
      message: `must have exactly one site of kind "cloud" (found ${clouds.length}${clouds.length ? `: ${clouds.map((s) => s.name).join(', ')}` : ''})`,
    });
  }
  topology.sites.forEach((site, i) => {
    if (site.kind === 'cloud') {
      if (site.uplink)
        issues.push({ pointer: `/sites/${i}/uplink`, message: 'is not accepted on the cloud site (it is the root)' });
      return;
    }
    if (!site.uplink) {
      issues.push({
        pointer: `/sites/${i}/uplink`,
        message: `is required for a${site.kind === 'edge' ? 'n edge' : ' device'} site: { to, upMbps, downMbps, rttMs, lossPercent? }`,
      });
      return;
    }
    const target = sites.get(site.uplink.to)?.site;
    const wanted: SiteKind = site.kind === 'edge' ? 'cloud' : 'edge';
    if (!target) {
      issues.push({
        pointer: `/sites/${i}/uplink/to`,
        message: `names no site (got "${site.uplink.to}"); sites are ${[...sites.keys()].join(', ')}`,
      });
    } else if (target.kind !== wanted) {
      issues.push({
        pointer: `/sites/${i}/uplink/to`,
        message: `must name a${wanted === 'edge' ? 'n edge' : ' cloud'} site: a${site.kind === 'edge' ? 'n edge' : ' device'} site's uplink goes to the ${wanted} (got "${target.name}", a ${target.kind} site)`,
      });
    }
  });
  if (issues.length) throw new TopologyError(source, issues);
  return topology;
}

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TopologyError(file, [{ pointer: '/', message: `cannot be read: ${(err as Error).message}` }]);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new TopologyError(file, [{ pointer: '/', message: `is not valid YAML/JSON: ${(err as Error).message}` }]);
  }
  return parseTopology(parsed, file);
}

export function cloudSite(topology: Topology): TopologySite {
  return topology.sites.find((s) => s.kind === 'cloud')!;
}

/** The sites crossed from `site` up to the cloud, nearest first (the site itself included, the cloud not). */
export function pathToCloud(topology: Topology, site: string): TopologySite[] {
  const bySite = new Map(topology.sites.map((s) => [s.name, s]));
  const path: TopologySite[] = [];
  let current = bySite.get(site);
  while (current && current.uplink) {
    path.push(current);
    current = bySite.get(current.uplink.to);
  }
  return path;
}

/** The round trip configured between a site and the cloud: the sum of the links crossed. */
export function configuredRttToCloud(topology: Topology, site: string): number {
  return pathToCloud(topology, site).reduce((sum, s) => sum + s.uplink!.rttMs, 0);
}
