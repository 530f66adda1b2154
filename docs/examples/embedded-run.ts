/**
 * Runs a workflow in this process with @yunbian/client: no orchestrator in the path of the
 * run, straight to the instances over NATS.
 *
 *   npm run build
 *   NATS_URL=nats://127.0.0.1:4222 node dist/docs/examples/embedded-run.js \
 *     workflows/edge-report.yaml '{"image": "<base64 PNG>", "readings": [{"id": "t1", "celsius": 45}]}' none
 *
 * The first argument is a stored workflow's name (`edge-report`) or a definition file
 * (YAML or JSON); the second the run input (JSON); the third `none` (ephemeral, the
 * default here) or `durable` (stored in the orchestrator's run store: GET /runs/{id} shows
 * it, and if this process dies the orchestrator finishes it). It prints one JSON line when
 * the run has started and one with the finished run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { YunbianClient } from '@yunbian/client';

async function main(): Promise<void> {
  const [workflow = 'edge-report', input = '{}', durability = 'none'] = process.argv.slice(2);
  if (durability !== 'none' && durability !== 'durable')
    throw new Error(`durability must be none or durable (got ${durability})`);
  const source = existsSync(workflow) ? readFileSync(workflow, 'utf8') : workflow;

  const yb = await YunbianClient.connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
  try {
    const id = await yb.start(source, JSON.parse(input), { durability });
    process.stdout.write(`${JSON.stringify({ started: id, engine: yb.id })}\n`);
    const run = await yb.waitFor(id);
    const steps = Object.fromEntries(Object.entries(run.steps).map(([step, state]) => [step, state.status]));
    process.stdout.write(
      `${JSON.stringify({ id: run.id, status: run.status, output: run.output, error: run.error, steps })}\n`,
    );
  } finally {
    await yb.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`embedded-run: ${err.message}\n`);
  process.exit(1);
});
