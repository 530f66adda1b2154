import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import YAML from 'yaml';
import { ApiError, type ApiClient } from '../api-client';
import { CliError } from '../cli-error';
import { OUTPUT_FORMATS, type OutputFormat } from '../format';
import { issueLines, issuesOf, type GivenValue } from '../input';

/** Where `yb` writes and reads; tests may give their own. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  readFile: (file: string) => string;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  readFile: (file) => readFileSync(file, 'utf8'),
  env: process.env,
};

export const outputOption = () =>
  new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table');

/** A server answer with `details.issues`, printed at their places in `given` before the error itself. */
export function withIssues(err: unknown, given: GivenValue, io: CliIo): never {
  if (err instanceof ApiError) {
    const issues = issuesOf(err.body?.details);
    if (issues.length) {
      io.err(`yb: ${err.message}`);
      for (const line of issueLines(issues, given)) io.err(line);
      throw new CliError('', 1);
    }
  }
  throw err;
}

export function positiveInteger(raw: string, option: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${option} ${raw}: give a whole number ≥ 0`);
  return n;
}

export function print(io: CliIo, value: unknown, format: OutputFormat): void {
  io.out(format === 'yaml' ? YAML.stringify(value).trimEnd() : JSON.stringify(value, null, 2));
}

/** What every command gets: where to write, and the client of the orchestrator the global options name. */
export interface CliContext {
  io: CliIo;
  client: () => ApiClient;
}
