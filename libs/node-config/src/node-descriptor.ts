import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { createAjv, formatIssues, schemaIssues, type SchemaIssue } from '@yunbian/common';
import { NODE_DESCRIPTOR_SCHEMA, type NodeDescriptor } from '@yunbian/contracts';

export class NodeDescriptorError extends Error {
  constructor(
    readonly source: string,
    readonly issues: SchemaIssue[],
  ) {
    super(`invalid node descriptor (${source}): ${formatIssues(issues)}`);
    this.name = 'NodeDescriptorError';
  }
}

const validate = createAjv({ useDefaults: true }).compile(NODE_DESCRIPTOR_SCHEMA);

/** Environment variables that set (or override) single descriptor fields. */
const ENV_FIELDS: Record<string, { field: keyof NodeDescriptor; parse: (raw: string) => unknown }> = {
  YUNBIAN_NODE_ID: { field: 'id', parse: (s) => s },
  YUNBIAN_NODE_SITE: { field: 'site', parse: (s) => s },
  YUNBIAN_NODE_TIER: { field: 'tier', parse: (s) => s },
  YUNBIAN_NODE_ARCH: { field: 'arch', parse: (s) => s },
  YUNBIAN_NODE_TAGS: {
    field: 'tags',
    parse: (s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
  },
  YUNBIAN_NODE_CPU_CORES: { field: 'cpuCores', parse: numberOrRaw },
  YUNBIAN_NODE_MEMORY_MB: { field: 'memoryMb', parse: numberOrRaw },
  YUNBIAN_NODE_COST_PER_HOUR: { field: 'costPerHour', parse: numberOrRaw },
  YUNBIAN_NODE_BANDWIDTH_MBPS: { field: 'bandwidthMbps', parse: numberOrRaw },
  YUNBIAN_NODE_LABELS: {
    field: 'labels',
    parse: (s) =>
      Object.fromEntries(
        s
          .split(',')
          .filter(Boolean)
          .map((pair) => pair.split('=').map((x) => x.trim())),
      ),
  },
};

/** Environment variables that set one field of the descriptor's `limits`. */
const ENV_LIMITS: Record<string, 'cpu' | 'memoryMb'> = {
  YUNBIAN_NODE_LIMIT_CPU: 'cpu',
  YUNBIAN_NODE_LIMIT_MEMORY_MB: 'memoryMb',
};

function numberOrRaw(raw: string): unknown {
  const value = Number(raw);
  // Keep the raw string when it is not a number, so validation names the field and value.
  return raw.trim() !== '' && Number.isFinite(value) ? value : raw;
}

/**
 * Parses and validates a node descriptor. `raw` comes from a file (YAML or JSON) and/or
 * the environment; arch, cpuCores and memoryMb default to this machine's.
 */
export function parseNodeDescriptor(raw: unknown, source: string): NodeDescriptor {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new NodeDescriptorError(source, [{ pointer: '/', message: 'must be an object of descriptor fields' }]);
  }
  const candidate: Record<string, unknown> = {
    arch: os.arch(),
    cpuCores: os.cpus().length,
    memoryMb: Math.floor(os.totalmem() / 1024 / 1024),
    ...(raw as Record<string, unknown>),
  };
  if (!validate(candidate)) throw new NodeDescriptorError(source, schemaIssues(validate, candidate));
  const node = candidate as unknown as NodeDescriptor;
  const issues = limitIssues(node);
  if (issues.length) throw new NodeDescriptorError(source, issues);
  return node;
}

/** Limits are a share of the node: they cannot exceed what the node has. */
function limitIssues(node: NodeDescriptor): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const { cpu, memoryMb } = node.limits ?? {};
  if (cpu !== undefined && cpu > node.cpuCores) {
    issues.push({
      pointer: '/limits/cpu',
      message: `must be at most the node's cpuCores (${node.cpuCores}) (got ${cpu}); lower it or raise cpuCores`,
    });
  }
  if (memoryMb !== undefined && memoryMb > node.memoryMb) {
    issues.push({
      pointer: '/limits/memoryMb',
      message: `must be at most the node's memoryMb (${node.memoryMb}) (got ${memoryMb}); lower it or raise memoryMb`,
    });
  }
  return issues;
}

export function readDescriptorFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NodeDescriptorError(file, [{ pointer: '/', message: `cannot be read: ${(err as Error).message}` }]);
  }
  try {
    const parsed: unknown = path.extname(file) === '.json' ? JSON.parse(text) : YAML.parse(text);
    return (parsed ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new NodeDescriptorError(file, [
      { pointer: '/', message: `is not valid YAML/JSON: ${(err as Error).message}` },
    ]);
  }
}

/** The descriptor from `file` (if given), with YUNBIAN_NODE_* variables applied on top. */
export function loadNodeDescriptor(file: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeDescriptor {
  const base = file ? readDescriptorFile(file) : {};
  const fromEnv: Record<string, unknown> = {};
  for (const [name, { field, parse }] of Object.entries(ENV_FIELDS)) {
    const value = env[name];
    if (value !== undefined && value !== '') fromEnv[field] = parse(value);
  }
  for (const [name, field] of Object.entries(ENV_LIMITS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const limits = (fromEnv.limits ?? { ...((base.limits as Record<string, unknown> | undefined) ?? {}) }) as Record<
      string,
      unknown
    >;
    limits[field] = numberOrRaw(value);
    fromEnv.limits = limits;
  }
  const sources = [file, Object.keys(fromEnv).length ? 'YUNBIAN_NODE_* environment' : undefined].filter(Boolean);
  return parseNodeDescriptor(
    { ...base, ...fromEnv },
    sources.join(' + ') || 'no descriptor file and no YUNBIAN_NODE_* variables',
  );
}
