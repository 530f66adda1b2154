import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import YAML from 'yaml';
import type { InstanceRecord } from '@yunbian/contracts';
import type { ModelMeta } from '@yunbian/models';
import { ApiClient, ApiError } from './api-client';
import { CliError } from './cli-error';
import { loadConfig } from './config';
import { formatOutput, OUTPUT_FORMATS, parseOutputFormat, type OutputFormat } from './format';
import { issueLines, issuesOf, parseGivenValue, parseText, type GivenValue } from './input';
import { RESOURCES, resourceName, type RunDetail } from './resources';
import { describeRun, runEndLine, runExitCode, runLogLines } from './run-progress';
import { watchRun } from './watch';

/** Where `yb` writes; tests give their own. */
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

const outputOption = () =>
  new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table');

/** A server answer with `details.issues`, printed at their places in `given` before the error itself. */
function withIssues(err: unknown, given: GivenValue, io: CliIo): never {
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

function positiveInteger(raw: string, option: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${option} ${raw}: give a whole number ≥ 0`);
  return n;
}

function print(io: CliIo, value: unknown, format: OutputFormat): void {
  io.out(format === 'yaml' ? YAML.stringify(value).trimEnd() : JSON.stringify(value, null, 2));
}

/** The `yb` command line: every command, wired to the orchestrator the global options name. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('yb')
    .description('Drive a Yunbian orchestrator: list what runs, apply workflows, start and watch runs')
    .option('--server <url>', 'orchestrator URL (env YUNBIAN_URL, config file; default http://localhost:3000)')
    .option('--key <key>', 'API key (env YUNBIAN_API_KEY, config file, else .yunbian/admin-key of npm start)')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  const client = () => new ApiClient(loadConfig(program.opts<{ server?: string; key?: string }>(), io.env));

  program
    .command('get')
    .description(`List ${Object.keys(RESOURCES).join(', ')}`)
    .argument('<resource>', Object.keys(RESOURCES).join('|'))
    .addOption(outputOption())
    .option('--workflow <name>', 'runs: of this workflow only')
    .option(
      '--status <status>',
      'runs: running, succeeded, failed or cancelled; instances: starting, ready, draining, failed',
    )
    .option('--node <id>', 'instances: on this node only')
    .option('--limit <n>', 'runs: at most this many (newest first)')
    .action(
      async (
        raw: string,
        options: { output: string; workflow?: string; status?: string; node?: string; limit?: string },
      ) => {
        const name = resourceName(raw);
        const format = parseOutputFormat(options.output);
        const query = new URLSearchParams();
        if (name === 'runs') {
          if (options.workflow) query.set('workflow', options.workflow);
          if (options.status) query.set('status', options.status);
          if (options.limit) query.set('limit', String(positiveInteger(options.limit, '--limit')));
        } else if (name === 'instances') {
          if (options.status) query.set('status', options.status);
          if (options.node) query.set('node', options.node);
        }
        const resource = RESOURCES[name];
        const rows = await client().get<unknown[]>(`${resource.route}${query.size ? `?${query}` : ''}`);
        io.out(formatOutput(rows, resource.columns(Date.now()), format));
      },
    );

  program
    .command('describe')
    .description('Show one run: its steps, their attempts, nodes, status and errors')
    .argument('<kind>', 'run')
    .argument('<id>', 'the run id')
    .addOption(outputOption())
    .action(async (kind: string, id: string, options: { output: string }) => {
      if (kind !== 'run') throw new CliError(`yb describe ${kind}: only "run" is described (yb describe run <id>)`);
      const run = await client().get<RunDetail>(`/runs/${encodeURIComponent(id)}`);
      const format = parseOutputFormat(options.output);
      if (format === 'table') io.out(describeRun(run));
      else print(io, run, format);
    });

  program
    .command('apply')
    .description('Store a workflow definition (a changed one becomes its next version)')
    .requiredOption('-f, --file <file>', 'the definition, YAML or JSON')
    .action(async (options: { file: string }) => {
      let text: string;
      try {
        text = io.readFile(options.file);
      } catch (err) {
        throw new CliError(
          `-f ${options.file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        );
      }
      const given: GivenValue = {
        value: parseText(text, options.file, !/\.json$/i.test(options.file)),
        text,
        source: options.file,
        fromFile: true,
      };
      const api = client();
      const response = await api.fetch('POST', '/workflows', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(given.value),
      });
      const stored = await api
        .parse<{ name: string; version: number }>('POST', '/workflows', response)
        .catch((err) => withIssues(err, given, io));
      io.out(
        `workflow ${stored.name} version ${stored.version} ${response.status === 201 ? 'stored' : 'unchanged (identical to the stored version)'}`,
      );
    });

  program
    .command('run')
    .description('Start a run of a workflow; --watch follows it to the end (exit 0 succeeded, 1 failed, 2 cancelled)')
    .argument('<workflow>', 'the workflow name')
    .option('-i, --input <json|@file>', 'the run input: JSON, @file.json, @file.yaml or @- (stdin)', '{}')
    .option('-w, --watch', 'print each step as it finishes and exit with how the run ended')
    .option('--version <n>', 'a stored version of the workflow (default: the latest)')
    .option('--origin <node>', 'the node the input comes from (placement keeps private data at its site)')
    .addOption(outputOption())
    .action(
      async (
        workflow: string,
        options: { input: string; watch?: boolean; version?: string; origin?: string; output: string },
      ) => {
        const format = parseOutputFormat(options.output);
        const given = parseGivenValue(options.input, '--input', io.readFile);
        const body: Record<string, unknown> = { input: given.value };
        if (options.version !== undefined) body.version = positiveInteger(options.version, '--version');
        if (options.origin) body.origin = { nodeId: options.origin };
        const api = client();
        const route = `/workflows/${encodeURIComponent(workflow)}/runs`;
        let started: RunDetail;
        try {
          started = await api.call<RunDetail>('POST', route, body);
        } catch (err) {
          if (err instanceof ApiError && err.status === 404)
            throw new CliError(`${err.message}\n(yb get workflows lists them; yb apply -f <file> stores one)`);
          withIssues(err, { ...given, text: given.text }, io);
        }
        if (!options.watch) {
          if (format === 'table') io.out(`run ${started.id} ${started.status}`);
          else print(io, started, format);
          return;
        }
        if (format === 'table')
          io.out(`run ${started.id} of ${started.workflow.name}@${started.workflow.version} started`);
        const finished = await watchRun(api, started.id, format === 'table' ? io.out : () => undefined);
        if (format === 'table') io.out(runEndLine(finished));
        else print(io, finished, format);
        const code = runExitCode(finished.status);
        if (code !== 0) throw new CliError('', code);
      },
    );

  program
    .command('deploy')
    .description('Start an instance of a service on a node')
    .argument('<service>', 'name, name@version or name@range')
    .requiredOption('--node <id>', 'the node to start it on')
    .option('--config <json|@file>', 'settings handed to the instance (JSON, @file.json or @file.yaml)')
    .option('--wait', 'wait until the instance is ready (or failed)')
    .addOption(outputOption())
    .action(async (service: string, options: { node: string; config?: string; wait?: boolean; output: string }) => {
      const format = parseOutputFormat(options.output);
      const body: Record<string, unknown> = { service, nodeId: options.node };
      if (options.config) body.config = parseGivenValue(options.config, '--config', io.readFile).value;
      const api = client();
      let instance = await api.call<InstanceRecord>('POST', '/instances', body);
      if (options.wait) {
        const deadline = Date.now() + 120_000;
        while (instance.status === 'starting' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 300));
          instance = await api.get<InstanceRecord>(`/instances/${encodeURIComponent(instance.id)}`);
        }
      }
      if (format !== 'table') print(io, instance, format);
      else
        io.out(
          `instance ${instance.id} (${instance.service}@${instance.version}) on ${instance.nodeId}: ${instance.status}`,
        );
      if (instance.status === 'failed')
        throw new CliError(`instance ${instance.id} failed: ${instance.lastError ?? '?'}`);
    });

  program
    .command('drain')
    .description('Drain and stop an instance (running requests get to finish)')
    .argument('<instanceId>')
    .option('--timeout <ms>', 'time running requests get to finish')
    .action(async (id: string, options: { timeout?: string }) => {
      const query = options.timeout ? `?drainTimeoutMs=${positiveInteger(options.timeout, '--timeout')}` : '';
      const instance = await client().call<InstanceRecord>('DELETE', `/instances/${encodeURIComponent(id)}${query}`);
      io.out(`instance ${instance.id} ${instance.status}; it leaves the catalogue once stopped`);
    });

  const models = program.command('models').description('The model registry');
  models
    .command('push')
    .description('Upload an ONNX model as the next version of a name')
    .argument('<file>', 'the .onnx file')
    .requiredOption('--name <name>', 'the model name')
    .option(
      '--version <n>',
      'the version this upload must become (refused, before uploading, when the registry is elsewhere)',
    )
    .action(async (file: string, options: { name: string; version?: string }) => {
      const api = client();
      const route = `/models?name=${encodeURIComponent(options.name)}`;
      if (options.version !== undefined) {
        // The registry numbers versions itself; --version guards against pushing over a version someone else made.
        const expected = positiveInteger(options.version, '--version');
        const latest = await api
          .get<{ versions: ModelMeta[] }>(`/models/${encodeURIComponent(options.name)}`)
          .then((m) => m.versions.at(-1)?.version ?? 0)
          .catch((err) => {
            if (err instanceof ApiError && err.status === 404) return 0;
            throw err;
          });
        if (expected !== latest + 1)
          throw new CliError(
            `--version ${expected}: the registry's latest ${options.name} is version ${latest}, so this upload would become ${latest + 1} (versions are numbered by the registry)`,
          );
      }
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new CliError(
          `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        );
      }
      const meta = await api.call<ModelMeta>('POST', route, new Uint8Array(bytes), {
        'content-type': 'application/octet-stream',
      });
      io.out(
        `model ${meta.name} version ${meta.version} (${path.basename(file)}, ${meta.size} bytes, sha256 ${meta.sha256.slice(0, 12)}…)`,
      );
    });
  models
    .command('list')
    .description('Same as yb get models')
    .addOption(outputOption())
    .action(async (options: { output: string }) => {
      const rows = await client().get<unknown[]>(RESOURCES.models.route);
      io.out(formatOutput(rows, RESOURCES.models.columns(Date.now()), parseOutputFormat(options.output)));
    });

  program
    .command('logs')
    .description("A run's attempts as time-ordered lines: queued, started, finished or failed, per step")
    .argument('<run>', 'the run id')
    .action(async (id: string) => {
      const run = await client().get<RunDetail>(`/runs/${encodeURIComponent(id)}`);
      for (const line of runLogLines(run)) io.out(line);
    });

  return program;
}

/** Runs `yb` with `argv` (without node and the script); resolves to the exit status. */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // Commander printed the usage problem (or the help / version) already.
      return (err as { exitCode?: number }).exitCode ?? 1;
    }
    if (err instanceof CliError) {
      if (err.message) io.err(`yb: ${err.message}`);
      return err.exitCode;
    }
    io.err(`yb: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}
