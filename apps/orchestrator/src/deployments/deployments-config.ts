import { envInt } from '@yunbian/common';

/** How the orchestrator reconciles deployments. */
export interface DeploymentsConfig {
  /** How long a dead node's replicas stay counted before they start elsewhere (`YUNBIAN_REPLACE_GRACE_MS`, default 5000). */
  replaceGraceMs: number;
  /** Nodes of one site silent within this window of each other: its uplink is taken as cut (`YUNBIAN_SITE_CUT_WINDOW_MS`, default 5000). */
  siteCutWindowMs: number;
  /** A reconcile pass at least this often, besides one on every catalogue change (`YUNBIAN_RECONCILE_MS`, default 2000). */
  reconcileIntervalMs: number;
}

/** Reads the reconciler's settings; throws naming every bad variable and what is accepted. */
export function loadDeploymentsConfig(env: NodeJS.ProcessEnv = process.env): DeploymentsConfig {
  const problems: string[] = [];
  const read = (name: string, fallback: number): number => {
    try {
      return envInt(name, fallback, env);
    } catch (err) {
      problems.push((err as Error).message);
      return fallback;
    }
  };
  const config = {
    replaceGraceMs: read('YUNBIAN_REPLACE_GRACE_MS', 5_000),
    siteCutWindowMs: read('YUNBIAN_SITE_CUT_WINDOW_MS', 5_000),
    reconcileIntervalMs: read('YUNBIAN_RECONCILE_MS', 2_000),
  };
  if (problems.length) throw new Error(`invalid orchestrator environment:\n  ${problems.join('\n  ')}`);
  return config;
}
