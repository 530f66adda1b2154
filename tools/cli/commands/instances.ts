import type { Command } from 'commander';
import type { InstanceRecord } from '@yunbian/contracts';
import { CliError } from '../cli-error';
import { parseOutputFormat } from '../format';
import { parseGivenValue } from '../input';
import { outputOption, positiveInteger, print, type CliContext } from './context';

/** `yb deploy` and `yb drain`: start and stop instances. */
export function registerInstances(program: Command, { io, client }: CliContext): void {
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
}
