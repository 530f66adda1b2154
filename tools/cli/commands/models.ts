import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelMeta } from '@yunbian/models';
import { ApiError } from '../api-client';
import { CliError } from '../cli-error';
import { formatOutput, parseOutputFormat } from '../format';
import { RESOURCES } from '../resources';
import { outputOption, positiveInteger, type CliContext } from './context';

/** `yb models push` and `yb models list`: the model registry. */
export function registerModels(program: Command, { io, client }: CliContext): void {
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
}
