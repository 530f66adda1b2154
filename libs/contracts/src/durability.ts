/** The environment variable that sets the replica count of every JetStream bucket and stream Yunbian creates. */
export const JS_REPLICAS_VARIABLE = 'YUNBIAN_JS_REPLICAS';

/** How durable this setup's JetStream state is, as the orchestrator sees it (`GET /health/durability`). */
export interface DurabilityReport {
  /** The replica setting every bucket is created (and, when set explicitly, kept) with. */
  replicas: {
    setting: number;
    /** false: `YUNBIAN_JS_REPLICAS` unset (1); existing buckets are then left as they are. */
    explicit: boolean;
    variable: typeof JS_REPLICAS_VARIABLE;
  };
  /** The server this process is connected to, and the cluster it belongs to. */
  server: {
    name: string;
    version: string;
    /** Cluster name; absent for a server without cluster routes. */
    cluster?: string;
    /** Servers of the cluster known to the client (the server's `connect_urls`; 1 alone). */
    clusterSize: number;
  };
  /** When the server fsyncs JetStream writes to disk. */
  sync: {
    /** `always` (before each acknowledgement), a duration such as `2 min`, or `unknown`. */
    interval: string;
    /** How that is known: the server's /varz, its version, or why it is not known. */
    source: string;
  };
  /** Each bucket's stream: its replica count and how many of its replicas are current. */
  buckets: BucketDurability[];
  /** One line a person can act on: what this setup survives, by what is known above. */
  summary: string;
}

export interface BucketDurability {
  /** The stream behind the bucket (`KV_<bucket>`, `OBJ_<bucket>`). */
  stream: string;
  replicas?: number;
  /** The server leading the stream's Raft group (clustered streams only). */
  leader?: string;
  /** Replicas that are up to date, the leader included. */
  current?: number;
  /** Why the stream could not be read (missing, no quorum…). */
  error?: string;
}
