import { envInt } from '@yunbian/common';

/** The orchestrator's HTTP settings, read and checked once at start. */
export interface HttpConfig {
  port: number;
  host: string;
  /** Largest JSON or YAML body (`YUNBIAN_BODY_LIMIT`, body-parser form: `8mb`, `512kb`, bytes). */
  bodyLimit: string;
  /** Deepest nesting of arrays/objects a body may have (`YUNBIAN_JSON_MAX_DEPTH`, default 100). */
  jsonMaxDepth: number;
}

export const DEFAULT_JSON_MAX_DEPTH = 100;
const BODY_LIMIT = /^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i;

/** Reads the HTTP settings; throws naming every bad variable and what is accepted. */
export function loadHttpConfig(env: NodeJS.ProcessEnv = process.env): HttpConfig {
  const problems: string[] = [];
  const read = (get: () => number, fallback: number): number => {
    try {
      return get();
    } catch (err) {
      problems.push((err as Error).message);
      return fallback;
    }
  };
  const port = read(() => envInt('PORT', 3000, env), 3000);
  if (port > 65_535) problems.push(`environment variable PORT="${port}" must be a port (1–65535)`);
  const jsonMaxDepth = read(
    () => envInt('YUNBIAN_JSON_MAX_DEPTH', DEFAULT_JSON_MAX_DEPTH, env),
    DEFAULT_JSON_MAX_DEPTH,
  );
  const bodyLimit = env.YUNBIAN_BODY_LIMIT?.trim() || '8mb';
  if (!BODY_LIMIT.test(bodyLimit))
    problems.push(
      `environment variable YUNBIAN_BODY_LIMIT="${bodyLimit}" must be a size such as 8mb, 512kb or 1048576`,
    );
  if (problems.length) throw new Error(`invalid orchestrator environment:\n  ${problems.join('\n  ')}`);
  return { port, host: env.HOST?.trim() || '0.0.0.0', bodyLimit, jsonMaxDepth };
}
