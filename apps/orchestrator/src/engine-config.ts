import { envInt, envString } from '@yunbian/common';
import { parseLeaseMs } from '@yunbian/transport';

/**
 * Where this orchestrator's engine executes runs: `cloud` (the default: the hub, every
 * site's runs that cannot stay at one site) or `site` (a site engine at an edge site,
 * connected to the site's leaf NATS server, executing the runs whose steps all place there).
 */
export interface EngineConfig {
  mode: 'cloud' | 'site';
  /** The site this engine executes at (`YUNBIAN_SITE`; default `cloud` in cloud mode, required in site mode). */
  site: string;
  /** Unique among live engines (`YUNBIAN_ENGINE_ID`; default `<mode>-<site>`). */
  id: string;
  /**
   * JetStream domain of this engine's run store and payload store (`YUNBIAN_RUN_DOMAIN`): in
   * site mode the site's leaf domain (default: the site's name, as compose/nats/leaf.conf and
   * the testbed name it); in cloud mode unset (the hub's JetStream).
   */
  runDomain?: string;
  /**
   * JetStream domain of the cloud's state a site engine reads (workflow definitions, the
   * catalogue snapshot): `YUNBIAN_HUB_DOMAIN`, default `hub` in site mode; unset in cloud mode.
   */
  hubDomain?: string;
  /** How often the engine announces itself (`YUNBIAN_ENGINE_ANNOUNCE_MS`; `loadEngineConfig` sets it, default 2000). */
  announceMs?: number;
  /**
   * Missed announcement intervals (of the engine's own interval) after which another engine
   * counts as gone (`YUNBIAN_ENGINE_LOST_AFTER_MISSED`; `loadEngineConfig` sets it, default 3).
   */
  lostAfterIntervals?: number;
  /**
   * How long a cloud replica's lease lasts without a renewal (`YUNBIAN_LEASE_MS`, default
   * 10000): a dead or hung replica's runs move to another replica this long after its last
   * renewal, and leadership (what is decided once) moves after it too.
   */
  leaseMs?: number;
  /**
   * The deployment's NATS trust directory (`YUNBIAN_NATS_TRUST_DIR`): what a cloud engine signs
   * node credentials and revocations with. Unset: nodes cannot be enrolled here (503 saying so).
   */
  natsTrustDir?: string;
  /** `YUNBIAN_NODE_JOIN_TOKEN`: a shared token nodes may enrol with (at least 32 characters). */
  nodeJoinToken?: string;
}

export const ENGINE_ENVIRONMENT = `YUNBIAN_ENGINE_MODE (cloud | site, default cloud), YUNBIAN_SITE (the site it executes at;
  default cloud, required in site mode), YUNBIAN_ENGINE_ID (default <mode>-<site>), YUNBIAN_RUN_DOMAIN (site mode: the
  JetStream domain of its run store, default the site's name), YUNBIAN_HUB_DOMAIN (site mode: the hub's JetStream
  domain, default hub), YUNBIAN_ENGINE_ANNOUNCE_MS (default 2000), YUNBIAN_ENGINE_LOST_AFTER_MISSED (default 3),
  YUNBIAN_LEASE_MS (cloud replicas' lease, default 10000)`;

/** Reads the engine's settings; throws naming every bad variable and what is accepted. */
export function loadEngineConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const problems: string[] = [];
  const mode = envString('YUNBIAN_ENGINE_MODE', 'cloud', env);
  if (mode !== 'cloud' && mode !== 'site')
    problems.push(`environment variable YUNBIAN_ENGINE_MODE="${mode}" must be cloud or site`);
  const site = env.YUNBIAN_SITE?.trim() || (mode === 'site' ? '' : 'cloud');
  if (!site)
    problems.push('YUNBIAN_ENGINE_MODE=site needs YUNBIAN_SITE, the name of the edge site this engine runs at');
  let announceMs = 2_000;
  let lostAfterIntervals = 3;
  try {
    announceMs = envInt('YUNBIAN_ENGINE_ANNOUNCE_MS', 2_000, env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  try {
    lostAfterIntervals = envInt('YUNBIAN_ENGINE_LOST_AFTER_MISSED', 3, env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  let leaseMs: number | undefined;
  try {
    leaseMs = parseLeaseMs(env.YUNBIAN_LEASE_MS);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const joinToken = env.YUNBIAN_NODE_JOIN_TOKEN?.trim() || undefined;
  if (joinToken && joinToken.length < 32)
    problems.push(
      `YUNBIAN_NODE_JOIN_TOKEN must be at least 32 characters (it is ${joinToken.length}): e.g. openssl rand -hex 24`,
    );
  if (problems.length) throw new Error(`invalid orchestrator environment:\n  ${problems.join('\n  ')}`);
  const kind = mode as EngineConfig['mode'];
  const config: EngineConfig = {
    mode: kind,
    site,
    id: env.YUNBIAN_ENGINE_ID?.trim() || `${kind}-${site}`,
    announceMs,
    lostAfterIntervals,
    leaseMs,
    ...(env.YUNBIAN_NATS_TRUST_DIR?.trim() ? { natsTrustDir: env.YUNBIAN_NATS_TRUST_DIR.trim() } : {}),
    ...(joinToken ? { nodeJoinToken: joinToken } : {}),
  };
  if (kind === 'site') {
    config.runDomain = env.YUNBIAN_RUN_DOMAIN?.trim() || site;
    config.hubDomain = env.YUNBIAN_HUB_DOMAIN?.trim() || 'hub';
  } else if (env.YUNBIAN_RUN_DOMAIN?.trim()) {
    config.runDomain = env.YUNBIAN_RUN_DOMAIN.trim();
  }
  return config;
}

/** Nest injection token of the process's `EngineConfig` (provided once, globally, by `EngineConfigModule`). */
export const ENGINE_CONFIG = Symbol('ENGINE_CONFIG');
