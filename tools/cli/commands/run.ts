import type { Command } from 'commander';
import { ApiError } from '../api-client';
import { CliError } from '../cli-error';
import { parseOutputFormat } from '../format';
import { parseGivenValue } from '../input';
import type { RunDetail } from '../resources';
import { runEndLine, runExitCode } from '../run-progress';
import { watchRun } from '../watch';
import { outputOption, positiveInteger, print, withIssues, type CliContext } from './context';

/** `yb run <workflow>`: start a run and, with --watch, follow it to the end. */
export function registerRun(program: Command, { io, client }: CliContext): void {
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
          withIssues(err, given, io);
        }
        if (!options.watch) {
          if (format === 'table') io.out(`run ${started.id} ${started.status}`);
          else print(io, started, format);
          return;
        }
        if (format === 'table')
          io.out(`run ${started.id} of ${started.workflow.name}@${started.workflow.version} started`);
        // Ctrl-C stops the watching, not the run: say so, and how to find it again.
        const interrupted = () => {
          io.err(`yb: stopped watching; run ${started.id} goes on (yb describe run ${started.id})`);
          process.exit(130);
        };
        process.once('SIGINT', interrupted);
        const finished = await watchRun(api, started.id, format === 'table' ? io.out : () => undefined).finally(() =>
          process.off('SIGINT', interrupted),
        );
        if (format === 'table') io.out(runEndLine(finished));
        else print(io, finished, format);
        const code = runExitCode(finished.status);
        if (code !== 0) throw new CliError('', code);
      },
    );
}
