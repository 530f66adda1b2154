import { DEFAULT_NATS_URL, envFlag, envInt, envString, parseDirectoryList } from '@yunbian/common';
import {
  ALLOWED_MODEL_DIRS_SETTING,
  configuredVerifyKeys,
  keyId,
  MODEL_VERIFY_KEY_SETTING,
  parseAllowedModelDirs,
} from '@yunbian/models';
import { parseReplicaSetting } from '@yunbian/transport';
import { DEFAULT_BANDWIDTH_PROBE, type BandwidthProbeOptions } from './bandwidth-prober';
import type { EnrolmentSettings } from './enrol';

/** Everything the agent reads from its environment, validated once at start. */
export interface AgentConfig {
  natsUrl: string;
  heartbeatIntervalMs: number;
  /** Undefined: this agent sends no bandwidth probes (it still answers its peers'). */
  bandwidth?: BandwidthProbeOptions;
  /** false: every instance gets its own process whatever its service declares. */
  sharedWorker: boolean;
  /** `YUNBIAN_SERVICE_PATH`: service directories besides the bundled one (the scan process reads it too). */
  serviceDirectories: string[];
  /**
   * `YUNBIAN_SERVICE_RESCAN_MS`: how often the YUNBIAN_SERVICE_PATH directories are looked at
   * for new or rebuilt services besides fs.watch events (default 5000); 0: the library is read
   * at start only (and on the node's reload command).
   */
  serviceRescanMs: number;
  /** V8 semi-space size for worker processes, MB. */
  workerSemiSpaceMb: number;
  /** `auto`: enforce limits with cgroup v1 where possible; `off`: limits are advisory. */
  cgroups: 'auto' | 'off';
  /** Port of the agent's /metrics and /health (none: not served). */
  metricsPort?: number;
  /**
   * `YUNBIAN_JS_REPLICAS`: replicas of the buckets its workers create (the payload store).
   * The workers read it themselves (they inherit the environment); checked here so a bad
   * value stops the agent at start instead of every worker later.
   */
  jsReplicas: number;
  /**
   * `YUNBIAN_JS_DOMAIN`: the JetStream domain of the registry's stores (`hub` behind a leaf
   * node). Its workers read it themselves; the agent's own model profiler (compression reports,
   * split profiles) fetches models with it. Undefined: the server's own domain.
   */
  jsDomain?: string;
  /**
   * `YUNBIAN_ALLOWED_MODEL_DIRS`: directories whose files instance configs may name as
   * `modelPath` / `dictionaryPath` (besides the packaged OCR models). Workers read it
   * themselves (they inherit the environment); checked here so a bad value stops the agent.
   */
  allowedModelDirs: string[];
  /**
   * Ids of the registry keys this node trusts to sign models (`YUNBIAN_MODEL_VERIFY_KEY` or
   * `YUNBIAN_MODEL_VERIFY_KEY_FILE`; workers read them themselves). Empty: trust on first use.
   */
  modelVerifyKeys: string[];
  /** Node enrolment (`YUNBIAN_ENROLMENT_TOKEN`, `YUNBIAN_ORCHESTRATOR_URL`, `YUNBIAN_NATS_CREDS`). */
  enrolment: EnrolmentSettings;
}

export const AGENT_ENVIRONMENT = `Environment: NATS_URL (default ${DEFAULT_NATS_URL}), YUNBIAN_HEARTBEAT_MS (default 2000),
  YUNBIAN_SERVICE_PATH (extra service directories, watched for new or rebuilt services),
  YUNBIAN_SERVICE_RESCAN_MS (fallback look at them, default 5000; 0: read at start only), YUNBIAN_SHARED_WORKER (default 1; 0 gives
  every instance its own process), YUNBIAN_WORKER_SEMI_SPACE_MB (default 4), LOG_LEVEL,
  YUNBIAN_BANDWIDTH_PROBE (on|off, default on), YUNBIAN_BANDWIDTH_PROBE_MS (default ${DEFAULT_BANDWIDTH_PROBE.intervalMs}),
  YUNBIAN_BANDWIDTH_BUDGET_BYTES (probe bytes per link per minute, default ${DEFAULT_BANDWIDTH_PROBE.budgetBytesPerMinute}),
  YUNBIAN_CGROUPS (auto | off: enforce limits and instance resources with cgroup v1 where
  possible, default auto), YUNBIAN_METRICS_PORT (serve /metrics and /health there), YUNBIAN_JS_REPLICAS
  (replicas of the JetStream buckets its workers create, 1–5, default 1), YUNBIAN_JS_DOMAIN (JetStream
  domain of the model registry, e.g. hub behind a leaf node; default the server's), YUNBIAN_NATS_CREDS
  (the node's NATS credentials file), YUNBIAN_ENROLMENT_TOKEN (or YUNBIAN_NODE_JOIN_TOKEN) and YUNBIAN_ORCHESTRATOR_URL (enrol at the
  first start: the credentials are saved to YUNBIAN_NATS_CREDS, default $TMPDIR/yunbian-node-<id>.creds),
  ${ALLOWED_MODEL_DIRS_SETTING} (absolute
  directories, ":"-separated, whose files instance configs may name as modelPath/dictionaryPath; default none
  besides the packaged OCR models), ${MODEL_VERIFY_KEY_SETTING} / YUNBIAN_MODEL_VERIFY_KEY_FILE (the registry's
  Ed25519 public key(s) models must be signed with; unset: the key the registry publishes, trusted on first use).`;

/** Every problem with the agent's environment at once, one line each. */
export class AgentConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid agent environment:\n  ${problems.join('\n  ')}`);
  }
}

/** Reads and checks the agent's settings; throws AgentConfigError naming every bad variable. */
export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const problems: string[] = [];
  const read = <T>(fallback: T, get: () => T): T => {
    try {
      return get();
    } catch (err) {
      problems.push((err as Error).message);
      return fallback;
    }
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = envString(name, fallback, env);
    if ((allowed as readonly string[]).includes(value)) return value as T;
    problems.push(`environment variable ${name}="${value}" must be ${allowed.join(' or ')}`);
    return fallback;
  };
  const probe = oneOf('YUNBIAN_BANDWIDTH_PROBE', ['on', 'off'], 'on');
  const bandwidth: BandwidthProbeOptions = {
    intervalMs: read(DEFAULT_BANDWIDTH_PROBE.intervalMs, () =>
      envInt('YUNBIAN_BANDWIDTH_PROBE_MS', DEFAULT_BANDWIDTH_PROBE.intervalMs, env),
    ),
    budgetBytesPerMinute: read(DEFAULT_BANDWIDTH_PROBE.budgetBytesPerMinute, () =>
      envInt('YUNBIAN_BANDWIDTH_BUDGET_BYTES', DEFAULT_BANDWIDTH_PROBE.budgetBytesPerMinute, env),
    ),
  };
  const metricsPort = read<number | undefined>(undefined, () => {
    if (!env.YUNBIAN_METRICS_PORT) return undefined;
    const port = envInt('YUNBIAN_METRICS_PORT', 0, env);
    if (port > 65_535) throw new Error(`environment variable YUNBIAN_METRICS_PORT="${port}" must be a port (1–65535)`);
    return port;
  });
  const config: AgentConfig = {
    natsUrl: envString('NATS_URL', DEFAULT_NATS_URL, env),
    heartbeatIntervalMs: read(2_000, () => envInt('YUNBIAN_HEARTBEAT_MS', 2_000, env)),
    bandwidth: probe === 'on' ? bandwidth : undefined,
    sharedWorker: read(true, () => envFlag('YUNBIAN_SHARED_WORKER', true, env)),
    serviceDirectories: parseDirectoryList(env.YUNBIAN_SERVICE_PATH),
    serviceRescanMs: read(5_000, () => envInt('YUNBIAN_SERVICE_RESCAN_MS', 5_000, env, { min: 0 })),
    workerSemiSpaceMb: read(4, () => envInt('YUNBIAN_WORKER_SEMI_SPACE_MB', 4, env)),
    cgroups: oneOf('YUNBIAN_CGROUPS', ['auto', 'off'], 'auto'),
    metricsPort,
    jsReplicas: read(1, () => parseReplicaSetting(env.YUNBIAN_JS_REPLICAS).replicas),
    jsDomain: env.YUNBIAN_JS_DOMAIN || undefined,
    allowedModelDirs: read<string[]>([], () => parseAllowedModelDirs(env[ALLOWED_MODEL_DIRS_SETTING])),
    modelVerifyKeys: read<string[]>([], () => (configuredVerifyKeys(env) ?? []).map(keyId)),
    enrolment: {
      token: env.YUNBIAN_ENROLMENT_TOKEN?.trim() || undefined,
      joinToken: env.YUNBIAN_NODE_JOIN_TOKEN?.trim() || undefined,
      orchestratorUrl: env.YUNBIAN_ORCHESTRATOR_URL?.trim() || 'http://127.0.0.1:3000',
      credentialsFile: env.YUNBIAN_NATS_CREDS?.trim() || undefined,
    },
  };
  if (problems.length > 0) throw new AgentConfigError(problems);
  return config;
}
