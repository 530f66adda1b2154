import type { Command } from 'commander';
import { CliError } from '../cli-error';
import { SERVICE_NEW_USAGE, serviceNewCommand } from '../service-new';
import type { CliContext } from './context';

/** `yb service new <name> [--dir] [--sdk]`: a one-file service project outside this repository. */
export function registerService(program: Command, { io }: CliContext): void {
  program
    .command('service')
    .description('Services written outside this repository')
    .command('new')
    .description(
      'Write a one-file service project (service, package.json, tsconfig, a test) that depends on the SDK package',
    )
    .usage(SERVICE_NEW_USAGE.replace(/^usage: yb service new /, ''))
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', '<name> [--dir <directory>] [--sdk <npm spec>]')
    .helpOption(false)
    .action(async (args: string[]) => {
      const code = await serviceNewCommand(
        args,
        (t) => io.out(t.trimEnd()),
        (t) => io.err(t.trimEnd()),
      );
      if (code !== 0) throw new CliError('', code);
    });
}
