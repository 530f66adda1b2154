import { PAYLOAD_BUCKET } from './payload';
import { SAMPLE_SUBJECT_ROOT } from './samples';
import { assertToken } from './subjects';
import { telemetryRawRoot } from './telemetry';
import { TRAINING_CHECKPOINT_BUCKET } from './training';

/**
 * What keeps a site's data at the site on NATS. A leaf node forwards to the hub every message
 * published at the site that anyone on the hub has interest in — a `>` subscriber draws them
 * all — and a stream on the hub captures a publish at the site when its subjects match (two
 * object stores of the same name, one in each domain, both store every chunk written to
 * either). So the site's own data travels on subjects of its own, which its leaf connection
 * never exports (`deny_exports` of the leaf's remote): its collections, its payload and
 * checkpoint buckets (named after the site, so no bucket on the hub shares their subjects),
 * and the inboxes of the processes at the site (the replies of the site's JetStream — a
 * collected sample read by the site's training worker — are published to them).
 */

/** The inbox prefix of every process at a site (agents, workers, its site engine): `_INBOX_<site>`. */
export function siteInboxPrefix(site: string): string {
  return `_INBOX_${assertToken(site, 'site name')}`;
}

/**
 * The inbox prefix of one node (its agent and workers): `_INBOX_<site>.<node id>`, inside its
 * site's, so its NATS credentials can allow its own replies and no other node's.
 */
export function nodeInboxPrefix(site: string, nodeId: string): string {
  return `${siteInboxPrefix(site)}.${assertToken(nodeId, 'node id')}`;
}

/**
 * The name of a bucket in `domain`: `base` in the default domain (none given, or the
 * process's own `ownDomain`: the hub's), `<base>-<domain>` in another (a site's), so its
 * subjects (`$O.<bucket>.…`) are the site's alone.
 */
export function domainBucket(base: string, domain: string | undefined, ownDomain?: string): string {
  return domain && domain !== ownDomain ? `${base}-${assertToken(domain, 'JetStream domain')}` : base;
}

/**
 * The subjects a site's leaf connection must not export to the hub (its `deny_exports`): the
 * site's collections, its payload and training-checkpoint buckets, the site's inboxes, its raw
 * telemetry readings (only their summaries reach the cloud, sourced by the hub's stream). The
 * server itself adds `$JS.API.>`, `$KV.>` and the site domain's `$JS.<site>.API.>`.
 */
export function siteLeafDenyExports(site: string): string[] {
  return [
    `${SAMPLE_SUBJECT_ROOT}.${assertToken(site, 'site name')}.>`,
    `$O.${domainBucket(PAYLOAD_BUCKET, site)}.>`,
    `$O.${domainBucket(TRAINING_CHECKPOINT_BUCKET, site)}.>`,
    `${siteInboxPrefix(site)}.>`,
    `${telemetryRawRoot(site)}.>`,
  ];
}
