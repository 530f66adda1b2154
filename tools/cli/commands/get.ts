import type { Command } from 'commander';
import { formatOutput, parseOutputFormat } from '../format';
import { RESOURCES, resourceName } from '../resources';
import { outputOption, positiveInteger, type CliContext } from './context';

/** List nodes, services, instances, workflows, runs or models: `yb get <resource>`. */
export function registerGet(program: Command, { io, client }: CliContext): void {
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
}
