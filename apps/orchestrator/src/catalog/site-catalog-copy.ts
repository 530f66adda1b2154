import { versionToken } from '@yunbian/contracts';
import type { CatalogSnapshot } from '@yunbian/catalog';

/** A site engine's copy of its catalogue view, in its site's JetStream domain. */
export const SITE_CATALOG_BUCKET = 'yb-catalog-site';
/** How often a site engine writes what changed in its view to the copy. */
export const SITE_CATALOG_COPY_MS = 5_000;

/** Fields that change with every heartbeat or load report: not worth a write of their own. */
const VOLATILE = new Set([
  'lastHeartbeatAt',
  'load',
  'heartbeatIntervalMs',
  'inFlight',
  'queued',
  'latencyMs',
  'memoryMb',
  'updatedAt',
]);

/** The entries of a view in the copy, keyed as the cloud's catalogue store keys them. */
export function catalogCopyEntries(view: CatalogSnapshot): Map<string, unknown> {
  const entries = new Map<string, unknown>();
  for (const node of view.nodes) entries.set(`node.${node.id}`, node);
  for (const instance of view.instances) entries.set(`instance.${instance.id}`, instance);
  for (const service of view.services) entries.set(`service.${service.name}.${versionToken(service.version)}`, service);
  return entries;
}

/** The snapshot a view restores from, read back from the copy's entries. */
export function snapshotFromCopy(entries: ReadonlyMap<string, unknown>): CatalogSnapshot {
  const snapshot: CatalogSnapshot = { nodes: [], instances: [], services: [] };
  for (const [key, value] of entries) {
    if (!value || typeof value !== 'object') continue;
    if (key.startsWith('node.')) snapshot.nodes.push(value as never);
    else if (key.startsWith('instance.')) snapshot.instances.push(value as never);
    else if (key.startsWith('service.')) snapshot.services.push(value as never);
  }
  return snapshot;
}

/**
 * What decides whether an entry is written again: everything placement reads (status,
 * instances, measured round trips and bandwidths, descriptors) but not the heartbeat's time
 * or the load of the moment, which the agents send again within a heartbeat of a restart.
 */
export function catalogFingerprint(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (VOLATILE.has(key) ? undefined : v));
}
