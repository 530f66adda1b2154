import { JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { KV, Kvm, KvOptions } from '@nats-io/kv';
import type { ObjectStore, ObjectStoreOptions, Objm } from '@nats-io/obj';
import { formatDuration } from '@yunbian/common';
import { JS_REPLICAS_VARIABLE, YunbianError, type BucketDurability, type DurabilityReport } from '@yunbian/contracts';
import type { NatsTransport } from './nats-transport';

export { JS_REPLICAS_VARIABLE } from '@yunbian/contracts';

/** JetStream allows at most 5 replicas of a stream. */
export const MAX_JS_REPLICAS = 5;

/** How many replicas every bucket gets, and whether the operator said so (`YUNBIAN_JS_REPLICAS`). */
export interface ReplicaSetting {
  replicas: number;
  /**
   * Set explicitly: existing buckets with another count are changed to it. Unset (1): buckets
   * are created with one replica and existing ones are left alone, so a process started
   * without the variable never scales down the buckets of a cluster another process set up.
   */
  explicit: boolean;
}

/** Parses `YUNBIAN_JS_REPLICAS`; throws saying what is accepted. */
export function parseReplicaSetting(raw: string | undefined): ReplicaSetting {
  const text = raw?.trim();
  if (text === undefined || text === '') return { replicas: 1, explicit: false };
  const replicas = Number(text);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_JS_REPLICAS) {
    throw new Error(
      `environment variable ${JS_REPLICAS_VARIABLE}="${raw}" must be a whole number from 1 to ${MAX_JS_REPLICAS}: ` +
        `the replicas of every JetStream bucket Yunbian creates (3 on a 3-server cluster; unset means 1)`,
    );
  }
  return { replicas, explicit: true };
}

let processSetting: ReplicaSetting | undefined;

/** The process's replica setting, read from the environment once (every bucket creator uses it). */
export function replicaSetting(): ReplicaSetting {
  processSetting ??= parseReplicaSetting(process.env[JS_REPLICAS_VARIABLE]);
  return processSetting;
}

/** The replica count an existing stream should be changed to, or undefined to leave it. */
export function replicaChange(current: number, setting: ReplicaSetting): number | undefined {
  return setting.explicit && current !== setting.replicas ? setting.replicas : undefined;
}

function advice(replicas: number): string {
  return replicas > 1
    ? `${JS_REPLICAS_VARIABLE}=${replicas} needs a JetStream cluster with at least ${replicas} servers up; connect to one (NATS_URL may list several servers, comma-separated) or lower ${JS_REPLICAS_VARIABLE} (unset means 1)`
    : `check that JetStream is enabled and reachable`;
}

function createError(bucket: string, setting: ReplicaSetting, cause: unknown): Error {
  const how = setting.explicit ? ` (${JS_REPLICAS_VARIABLE}=${setting.replicas})` : '';
  return new Error(
    `cannot create JetStream bucket ${bucket} with ${setting.replicas} replica${setting.replicas === 1 ? '' : 's'}${how}: ${(cause as Error).message}. ${advice(setting.replicas)}`,
  );
}

/**
 * Brings an existing stream to the setting's replica count (when set explicitly). When the
 * server refuses (not enough servers up, or not clustered), the stream is left as it was and
 * this throws saying so: a process asked for N replicas does not run on fewer.
 */
export async function ensureReplicas(
  jsm: JetStreamManager,
  stream: string,
  setting: ReplicaSetting = replicaSetting(),
  info?: StreamInfo,
): Promise<void> {
  info ??= await jsm.streams.info(stream);
  const wanted = replicaChange(info.config.num_replicas, setting);
  if (wanted === undefined) return;
  try {
    await jsm.streams.update(stream, { ...info.config, num_replicas: wanted });
  } catch (err) {
    throw new Error(
      `cannot change JetStream stream ${stream} from ${info.config.num_replicas} to ${wanted} replicas (${JS_REPLICAS_VARIABLE}=${wanted}): ${(err as Error).message}. ` +
        `The stream keeps ${info.config.num_replicas}. ${advice(wanted)}`,
    );
  }
}

/** `kvm.create` with the process's replica count, applied to an existing bucket too (see `ensureReplicas`). */
export async function createKv(
  kvm: Kvm,
  bucket: string,
  options: Partial<KvOptions> = {},
  setting: ReplicaSetting = replicaSetting(),
): Promise<KV> {
  const kv = await kvm.create(bucket, { ...options, replicas: setting.replicas }).catch((err: unknown) => {
    throw createError(bucket, setting, err);
  });
  if (setting.explicit) await ensureReplicas(await kvm.js.jetstreamManager(false), `KV_${bucket}`, setting);
  return kv;
}

/** `objm.create` with the process's replica count, applied to an existing bucket too (see `ensureReplicas`). */
export async function createObjectStore(
  objm: Objm,
  bucket: string,
  options: Partial<ObjectStoreOptions> = {},
  setting: ReplicaSetting = replicaSetting(),
): Promise<ObjectStore> {
  const store = await objm.create(bucket, { ...options, replicas: setting.replicas }).catch((err: unknown) => {
    throw createError(bucket, setting, err);
  });
  if (setting.explicit) await ensureReplicas(await objm.js.jetstreamManager(false), `OBJ_${bucket}`, setting);
  return store;
}

/** What a server's `/varz` says about JetStream's sync (nanosecond duration, or always). */
export interface VarzJetStream {
  jetstream?: { config?: { sync_interval?: number; sync_always?: boolean } };
}

/** nats-server's default sync interval, and the first version that lets it be set. */
const DEFAULT_SYNC_MS = 120_000;
const SYNC_SETTING_SINCE = [2, 10];

/** When the server fsyncs, from its /varz when that could be read, else from its version. */
export function describeSync(version: string, varz: VarzJetStream | undefined): DurabilityReport['sync'] {
  const config = varz?.jetstream?.config;
  if (config?.sync_always) return { interval: 'always', source: 'the server’s /varz (sync_interval: always)' };
  if (config?.sync_interval)
    return { interval: formatDuration(config.sync_interval / 1e6), source: 'the server’s /varz (sync_interval)' };
  if (varz)
    return { interval: formatDuration(DEFAULT_SYNC_MS), source: 'the server’s /varz (no sync_interval: the default)' };
  const [major, minor] = version.split('.').map(Number);
  if (major < SYNC_SETTING_SINCE[0] || (major === SYNC_SETTING_SINCE[0] && minor < SYNC_SETTING_SINCE[1]))
    return {
      interval: formatDuration(DEFAULT_SYNC_MS),
      source: `nats-server ${version} has no sync_interval setting: it always syncs on its default interval`,
    };
  return {
    interval: 'unknown',
    source: `set YUNBIAN_NATS_MONITOR_URL to the server's monitoring URL to read sync_interval from its /varz (the compose stacks set always)`,
  };
}

/** A bucket's stream as the report shows it. */
export function bucketDurability(stream: string, info: StreamInfo): BucketDurability {
  const peers = info.cluster?.replicas ?? [];
  return {
    stream,
    replicas: info.config.num_replicas,
    ...(info.cluster?.leader ? { leader: info.cluster.leader } : {}),
    // The leader answered the info request; its peers say whether they are caught up.
    current: 1 + peers.filter((p) => p.current).length,
  };
}

/** One sentence on what the setup survives, from the figures in the report. */
export function durabilitySummary(report: Omit<DurabilityReport, 'summary'>): string {
  const replicas = Math.min(
    ...report.buckets.map((b) => b.replicas ?? report.replicas.setting),
    report.replicas.setting,
  );
  const lost = Math.floor((replicas - 1) / 2);
  const replication =
    replicas >= 3
      ? `every bucket has ${replicas} replicas: writes are acknowledged by a quorum, and losing ${lost} server${lost === 1 ? '' : 's'} loses nothing acknowledged`
      : replicas === 2
        ? 'buckets have 2 replicas: a write needs both servers, so losing either stops writes'
        : 'buckets have one replica: losing the server (or its disk) loses the state';
  const sync =
    report.sync.interval === 'always'
      ? 'the server fsyncs before acknowledging, so a power loss loses no acknowledged write'
      : report.sync.interval === 'unknown'
        ? 'the server’s fsync interval is not known here'
        : `the server fsyncs every ${report.sync.interval}, so a power loss of ${replicas >= 3 ? 'a quorum of servers at once' : 'the host'} may lose the writes of up to the last ${report.sync.interval}`;
  return `${replication}; ${sync}.`;
}

/**
 * The durability of this setup: the replica setting, the server and its cluster, when it
 * syncs (from `monitorUrl`'s /varz when given and reachable), and each stream's replicas.
 */
export async function durabilityReport(
  transport: NatsTransport,
  streams: string[],
  options: { monitorUrl?: string; setting?: ReplicaSetting } = {},
): Promise<DurabilityReport> {
  const setting = options.setting ?? replicaSetting();
  const info = transport.connection.info;
  let varz: VarzJetStream | undefined;
  if (options.monitorUrl) {
    try {
      const response = await fetch(new URL('/varz', options.monitorUrl), { signal: AbortSignal.timeout(2_000) });
      if (response.ok) varz = (await response.json()) as VarzJetStream;
    } catch {
      // Unreachable monitoring: fall back to what the version says.
    }
  }
  const jsm = await transport.jetstream().jetstreamManager(false);
  const buckets = await Promise.all(
    streams.map(async (stream): Promise<BucketDurability> => {
      try {
        return bucketDurability(stream, await jsm.streams.info(stream));
      } catch (err) {
        return { stream, error: (err as Error).message };
      }
    }),
  );
  const report: Omit<DurabilityReport, 'summary'> = {
    replicas: { setting: setting.replicas, explicit: setting.explicit, variable: JS_REPLICAS_VARIABLE },
    server: {
      name: info?.server_name ?? 'unknown',
      version: info?.version ?? 'unknown',
      ...(info?.cluster ? { cluster: info.cluster } : {}),
      clusterSize: Math.max(1, info?.connect_urls?.length ?? 1),
    },
    sync: describeSync(info?.version ?? '0.0.0', varz),
    buckets,
  };
  return { ...report, summary: durabilitySummary(report) };
}

/** How long a JetStream write keeps being retried through a leader election or a reconnect. */
export const WRITE_RETRY_MS = 60_000;

/**
 * A write that failed for a reason that passes (no reply: the stream's leader died and a
 * new one is being elected, or the connection is failing over to another server) is retried
 * with backoff; a refusal (JetStream answered with an error other than 503) is not.
 */
export function isTransientWriteError(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.status === 503;
  // The run store's own acknowledgement check: a refusal is not UNAVAILABLE.
  if (err instanceof YunbianError)
    return err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT' || err.code === 'NO_RESPONDERS';
  return err instanceof Error;
}

/**
 * Runs `write` until it succeeds, retrying transient failures (see `isTransientWriteError`)
 * with backoff from 50 ms to 2 s for up to `retryMs`; then, or at a refusal, throws the last
 * error. Writes to one key must be ordered by the caller (the run store chains them per run).
 */
export async function retryingWrite<T>(
  write: () => Promise<T>,
  retryMs = WRITE_RETRY_MS,
  isClosed: () => boolean = () => false,
): Promise<T> {
  const deadline = Date.now() + retryMs;
  for (let delay = 50; ; delay = Math.min(2_000, delay * 2)) {
    try {
      return await write();
    } catch (err) {
      if (!isTransientWriteError(err) || isClosed() || Date.now() + delay > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
