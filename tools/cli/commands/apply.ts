import type { Command } from 'commander';
import { CliError } from '../cli-error';
import { parseText, type GivenValue } from '../input';
import { withIssues, type CliContext } from './context';

/** `yb apply -f <file>`: store a workflow definition, its problems printed at their place in the file. */
export function registerApply(program: Command, { io, client }: CliContext): void {
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
}
