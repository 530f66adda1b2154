import type { Command } from 'commander';
import { CliError } from '../cli-error';
import { parseOutputFormat } from '../format';
import type { RunDetail } from '../resources';
import { describeRun } from '../run-progress';
import { outputOption, print, type CliContext } from './context';

/** `yb describe run <id>`: a run's steps, attempts, nodes and errors. */
export function registerDescribe(program: Command, { io, client }: CliContext): void {
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
}
