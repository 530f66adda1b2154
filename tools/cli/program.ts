import { Command } from 'commander';
import { ApiClient } from './api-client';
import { CliError } from './cli-error';
import { loadConfig } from './config';
import { registerApply } from './commands/apply';
import { processIo, type CliContext, type CliIo } from './commands/context';
import { registerDescribe } from './commands/describe';
import { registerGet } from './commands/get';
import { registerInstances } from './commands/instances';
import { registerLogs } from './commands/logs';
import { registerModels } from './commands/models';
import { registerRun } from './commands/run';
import { registerService } from './commands/service';

export { processIo, type CliIo } from './commands/context';

/**
 * The `yb` command line: the global options, then each command from its file in `commands/`
 * (a new command is a file there and one line here).
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command('yb')
    .description('Drive a Yunbian orchestrator: list what runs, apply workflows, start and watch runs')
    .option('--server <url>', 'orchestrator URL (env YUNBIAN_URL, config file; default http://localhost:3000)')
    .option('--key <key>', 'API key (env YUNBIAN_API_KEY, config file, else .yunbian/admin-key of npm start)')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  const client = () => new ApiClient(loadConfig(program.opts<{ server?: string; key?: string }>(), io.env));
  const context: CliContext = { io, client };
  for (const register of [
    registerGet,
    registerDescribe,
    registerApply,
    registerRun,
    registerInstances,
    registerModels,
    registerLogs,
    registerService,
  ])
    register(program, context);
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
