import {
  assertToken,
  COMPRESSION_STAGING_BUCKET,
  OUTCOME_BUCKET,
  DATASET_BUCKET,
  DATASET_META_BUCKET,
  MODEL_LIVE_BUCKET,
  MODEL_STAGING_BUCKET,
  nodeInboxPrefix,
  PAYLOAD_BUCKET,
  SAMPLE_STREAM,
  SAMPLE_SUBJECT_ROOT,
  SUBJECT_ROOT,
  TRAINING_CHECKPOINT_BUCKET,
  telemetryAggStream,
  telemetryAggStreamConfig,
  telemetryRawRoot,
  telemetryStream,
} from '@yunbian/contracts';
import { MODEL_ALIAS_BUCKET, MODEL_BUCKET, MODEL_META_BUCKET, MODEL_SIGNING_BUCKET } from '@yunbian/models';

/**
 * What a node's NATS credentials allow (a NATS user JWT's permissions; nats-server enforces
 * them, a publish or subscription outside them is refused and logged as a violation). A node —
 * its agent and the workers it starts — may:
 *
 * - publish its own events (`yb.evt.node.<id>.>`) and answer the requests it receives (reply
 *   subjects: `resp`), never another node's events;
 * - receive its own commands (`yb.cmd.node.<id>.>`), the orchestrator's online event, the calls
 *   of the services of its library (`yb.svc.<name>.*`, named at enrolment; never `yb.svc.>`) and
 *   replies on its own inbox prefix (`_INBOX_<site>.<id>`);
 * - call services, probe its peers (`yb.cmd.node.*.ping|bandwidth`: a ping carries nothing),
 *   register models it made (`yb.cmd.models.register`; the registry signs and checks them) and
 *   publish its site's collected samples;
 * - use JetStream only on the streams it needs: read the model registry (bytes, metadata,
 *   aliases, signatures) and datasets, read and write payloads and checkpoints (the hub's and
 *   its site's), staging and live figures; never the runs, catalogue, keys, leases, audit or
 *   workflow buckets, and no stream deletion, purge of others' streams or server APIs;
 * - keep its site's telemetry: publish raw readings and summaries of its own site only, and
 *   create, read and purge its site's two telemetry streams (the telemetry services do).
 *
 * Instance subjects (`yb.inst.<id>`, `yb.cmd.inst.<id>.configure`) are not tied to a node's id
 * yet: a node may receive any instance's pinned calls (docs/security.md, "Not built yet").
 */
export interface NatsPermissions {
  pub: { allow: string[]; deny?: string[] };
  sub: { allow: string[]; deny?: string[] };
  resp?: { max: number; ttl: number };
}

/** Both forms of a JetStream API subject: the local domain's and any named domain's. */
const api = (rest: string) => [`$JS.API.${rest}`, `$JS.*.API.${rest}`];

/** Read access to a stream: info, message and direct gets, ephemeral and pull consumers. */
function readStream(stream: string): string[] {
  return [
    ...api(`STREAM.INFO.${stream}`),
    ...api(`STREAM.MSG.GET.${stream}`),
    ...api(`DIRECT.GET.${stream}`),
    ...api(`DIRECT.GET.${stream}.>`),
    ...api(`CONSUMER.CREATE.${stream}`),
    ...api(`CONSUMER.CREATE.${stream}.>`),
    ...api(`CONSUMER.INFO.${stream}.*`),
    ...api(`CONSUMER.DELETE.${stream}.*`),
    ...api(`CONSUMER.MSG.NEXT.${stream}.*`),
  ];
}

/** Write access to a stream it may create: creation, purge (deleting an object), its subjects. */
function writeStream(stream: string): string[] {
  return [...api(`STREAM.CREATE.${stream}`), ...api(`STREAM.UPDATE.${stream}`), ...api(`STREAM.PURGE.${stream}`)];
}

const obj = (bucket: string) => `OBJ_${bucket}`;
const kv = (bucket: string) => `KV_${bucket}`;

/**
 * The permissions of node `nodeId` at `site` whose service library holds `services` (names).
 * Pure: the orchestrator writes them into the node's user JWT at enrolment.
 */
export function nodePermissions(nodeId: string, site: string, services: string[]): NatsPermissions {
  const id = assertToken(nodeId, 'node id');
  const siteName = assertToken(site, 'site name');
  const atSite = (bucket: string) => [bucket, `${bucket}-${siteName}`];
  const readOnly = [
    obj(MODEL_BUCKET),
    kv(MODEL_META_BUCKET),
    kv(MODEL_ALIAS_BUCKET),
    kv(MODEL_SIGNING_BUCKET),
    kv(DATASET_META_BUCKET),
    obj(DATASET_BUCKET),
    // Compressed versions wait here while nodes profile them (the agent's model profiler).
    obj(COMPRESSION_STAGING_BUCKET),
    SAMPLE_STREAM,
  ];
  const readWriteObjects = [...atSite(PAYLOAD_BUCKET), ...atSite(TRAINING_CHECKPOINT_BUCKET), MODEL_STAGING_BUCKET];
  const telemetry = [telemetryStream(siteName), telemetryAggStream(siteName)];
  // Live figures of canaries, and the durable results of services that keep them (idempotency).
  const readWriteKv = [MODEL_LIVE_BUCKET, OUTCOME_BUCKET];
  const readWrite = [...readWriteObjects.map(obj), ...readWriteKv.map(kv), ...telemetry];
  const inbox = nodeInboxPrefix(siteName, id);
  return {
    pub: {
      allow: [
        `${SUBJECT_ROOT}.evt.node.${id}.>`,
        `${SUBJECT_ROOT}.cmd.orchestrator.ping`,
        `${SUBJECT_ROOT}.cmd.orchestrator.bandwidth`,
        `${SUBJECT_ROOT}.cmd.node.*.ping`,
        `${SUBJECT_ROOT}.cmd.node.*.bandwidth`,
        `${SUBJECT_ROOT}.cmd.models.register`,
        `${SUBJECT_ROOT}.svc.>`,
        `${SAMPLE_SUBJECT_ROOT}.${siteName}.>`,
        `${telemetryRawRoot(siteName)}.>`,
        ...telemetryAggStreamConfig(siteName).subjects,
        ...api('INFO'),
        ...[...readOnly, ...readWrite].flatMap(readStream),
        ...readWrite.flatMap(writeStream),
        ...readWriteObjects.map((b) => `$O.${b}.>`),
        ...readWriteKv.map((b) => `$KV.${b}.>`),
        '$JS.ACK.>',
        '$JS.FC.>',
      ],
    },
    sub: {
      allow: [
        `${SUBJECT_ROOT}.cmd.node.${id}.>`,
        `${SUBJECT_ROOT}.evt.orchestrator.online`,
        ...services.map((name) => `${SUBJECT_ROOT}.svc.${assertToken(name, 'service name')}.*`),
        `${SUBJECT_ROOT}.inst.*`,
        `${SUBJECT_ROOT}.cmd.inst.*.configure`,
        `${inbox}.>`,
      ],
    },
    // Replies to the requests it receives (commands, service calls, probes).
    resp: { max: 16, ttl: 0 },
  };
}
