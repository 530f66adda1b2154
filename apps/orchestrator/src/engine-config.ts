import { envString } from '@yunbian/common';

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
}

export const ENGINE_ENVIRONMENT = `YUNBIAN_ENGINE_MODE (cloud | site, default cloud), YUNBIAN_SITE (the site it executes at;
  default cloud, required in site mode), YUNBIAN_ENGINE_ID (default <mode>-<site>)`;

/** Reads the engine's settings; throws naming every bad variable and what is accepted. */
export function loadEngineConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const problems: string[] = [];
  const mode = envString('YUNBIAN_ENGINE_MODE', 'cloud', env);
  if (mode !== 'cloud' && mode !== 'site')
    problems.push(`environment variable YUNBIAN_ENGINE_MODE="${mode}" must be cloud or site`);
  const site = env.YUNBIAN_SITE?.trim() || (mode === 'site' ? '' : 'cloud');
  if (!site)
    problems.push('YUNBIAN_ENGINE_MODE=site needs YUNBIAN_SITE, the name of the edge site this engine runs at');
  if (problems.length) throw new Error(`invalid orchestrator environment:\n  ${problems.join('\n  ')}`);
  const kind = mode as EngineConfig['mode'];
  return { mode: kind, site, id: env.YUNBIAN_ENGINE_ID?.trim() || `${kind}-${site}` };
}
