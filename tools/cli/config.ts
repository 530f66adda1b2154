import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { API_KEY_VARIABLE } from '@yunbian/contracts';
import { CliError } from './cli-error';

/** The orchestrator `yb` talks to and the credential it sends, with where each came from. */
export interface CliConfig {
  server: string;
  key?: string;
  /** e.g. `--server`, `YUNBIAN_URL`, `~/.config/yunbian/config.json`, `default`. */
  serverFrom: string;
  keyFrom?: string;
}

export const SERVER_VARIABLE = 'YUNBIAN_URL';
export const CONFIG_VARIABLE = 'YUNBIAN_CONFIG';
export const DEFAULT_SERVER = 'http://localhost:3000';

/** What the config file may hold (`{ "server": "…", "key": "…" }`). */
export interface CliConfigFile {
  server?: string;
  key?: string;
}

export interface ConfigSources {
  flags: { server?: string; key?: string };
  env: NodeJS.ProcessEnv;
  /** The parsed config file and its path, when there is one. */
  file?: { path: string; content: CliConfigFile };
  /** The local stack's saved admin key (`.yunbian/admin-key`) and its path, when there is one. */
  stackKey?: { path: string; key: string };
}

/**
 * Picks the server and key: a flag, else the environment (YUNBIAN_URL, YUNBIAN_API_KEY), else
 * the config file, else the local defaults (`npm start`'s port and saved admin key), so that
 * `npx yb get nodes` works next to a running `npm start` with nothing set.
 */
export function resolveConfig(sources: ConfigSources): CliConfig {
  const { flags, env, file, stackKey } = sources;
  const pick = (...options: [string | undefined, string][]): { value: string; from: string } | undefined => {
    for (const [value, from] of options) if (value?.trim()) return { value: value.trim(), from };
    return undefined;
  };
  const server = pick(
    [flags.server, '--server'],
    [env[SERVER_VARIABLE], SERVER_VARIABLE],
    [file?.content.server, file?.path ?? ''],
  ) ?? { value: DEFAULT_SERVER, from: 'default' };
  const key = pick(
    [flags.key, '--key'],
    [env[API_KEY_VARIABLE], API_KEY_VARIABLE],
    [file?.content.key, file?.path ?? ''],
    [stackKey?.key, stackKey?.path ?? ''],
  );
  let url: URL;
  try {
    url = new URL(server.value);
  } catch {
    throw new CliError(`server "${server.value}" (from ${server.from}) is not a URL: give one like ${DEFAULT_SERVER}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`server "${server.value}" (from ${server.from}) must be an http:// or https:// URL`);
  return {
    server: server.value.replace(/\/+$/, ''),
    serverFrom: server.from,
    key: key?.value,
    keyFrom: key?.from,
  };
}

/** Checks a config file's content: an object with string `server` and `key`, nothing else. */
export function parseConfigFile(text: string, file: string): CliConfigFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); expected { "server": "…", "key": "…" }`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CliError(`${file} must hold a JSON object: { "server": "…", "key": "…" }`);
  const content = parsed as Record<string, unknown>;
  for (const [name, value] of Object.entries(content)) {
    if (name !== 'server' && name !== 'key')
      throw new CliError(`${file}: unknown setting "${name}"; accepted are "server" and "key"`);
    if (typeof value !== 'string') throw new CliError(`${file}: "${name}" must be a string`);
  }
  return content as CliConfigFile;
}

/** The config file path: $YUNBIAN_CONFIG, else ~/.config/yunbian/config.json (under $XDG_CONFIG_HOME when set). */
export function configFilePath(env: NodeJS.ProcessEnv): string {
  if (env[CONFIG_VARIABLE]?.trim()) return env[CONFIG_VARIABLE]!.trim();
  const base = env.XDG_CONFIG_HOME?.trim() || path.join(os.homedir(), '.config');
  return path.join(base, 'yunbian', 'config.json');
}

/**
 * Reads what `resolveConfig` chooses from: the config file (required to exist only when
 * YUNBIAN_CONFIG names it) and the local stack's admin key — `$YUNBIAN_STATE_DIR/admin-key`,
 * else `.yunbian/admin-key` in the current directory or the checkout `yb` was built in.
 */
export function loadConfig(flags: { server?: string; key?: string }, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const file = configFilePath(env);
  let content: CliConfigFile | undefined;
  if (existsSync(file)) content = parseConfigFile(readFileSync(file, 'utf8'), file);
  else if (env[CONFIG_VARIABLE]?.trim()) throw new CliError(`${CONFIG_VARIABLE} names ${file}, which does not exist`);
  const checkout = path.resolve(__dirname, '../../..');
  const candidates = env.YUNBIAN_STATE_DIR?.trim()
    ? [path.join(env.YUNBIAN_STATE_DIR.trim(), 'admin-key')]
    : [path.join(process.cwd(), '.yunbian', 'admin-key'), path.join(checkout, '.yunbian', 'admin-key')];
  const keyFile = candidates.find((c) => existsSync(c));
  return resolveConfig({
    flags,
    env,
    file: content ? { path: file, content } : undefined,
    stackKey: keyFile ? { path: keyFile, key: readFileSync(keyFile, 'utf8').trim() } : undefined,
  });
}
