import path from 'node:path';
/** Reads a positive integer from the environment, failing with the variable's name. */
export function envInt(
  name: string,
  fallback: number,
  env: NodeJS.ProcessEnv = process.env,
  { min = 1 }: { min?: 0 | 1 } = {},
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'an integer ≥ 0' : 'a positive integer';
    throw new Error(`environment variable ${name}="${raw}" must be ${what}`);
  }
  return value;
}

export function envString(name: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** Reads an on/off switch (`1`/`true`/`on` or `0`/`false`/`off`), failing with the variable's name. */
export function envFlag(name: string, fallback: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new Error(`environment variable ${name}="${env[name]}" must be 1/true/on or 0/false/off`);
}

/** The directories of a `:`-separated path setting (YUNBIAN_SERVICE_PATH), absolute, empty parts dropped. */
export function parseDirectoryList(value: string | undefined): string[] {
  return (value ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((d) => path.resolve(d));
}
