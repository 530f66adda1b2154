import type { Command } from 'commander';
import type { CliContext } from './context';
import type { RunDetail } from '../resources';
import { runLogLines } from '../run-progress';

/** `yb logs <run>`: what the REST API records of a run, as timed lines. */
export function registerLogs(program: Command, { io, client }: CliContext): void {
  program
    .command('logs')
    .description("A run's attempts as time-ordered lines: queued, started, finished or failed, per step")
    .argument('<run>', 'the run id')
    .action(async (id: string) => {
      const run = await client().get<RunDetail>(`/runs/${encodeURIComponent(id)}`);
      for (const line of runLogLines(run)) io.out(line);
    });
}
