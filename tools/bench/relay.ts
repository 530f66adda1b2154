/**
 * The hop floor for bench:engine-floor: a process that answers `bench.relay` by making the
 * pipeline's three calls with NatsTransport exactly as the orchestrator's step dispatcher
 * does (requestTimed, idempotency header) and replying — no executor, no decider, no
 * placement, no run record. What it costs a run is what any engine in its own process pays
 * for the messages alone.
 */
import { IDEMPOTENCY_HEADER } from '@yunbian/service-sdk';
import { NatsTransport } from '@yunbian/transport';

export const RELAY_SUBJECT = 'bench.relay';

async function main(): Promise<void> {
  const transport = await NatsTransport.connect({ servers: process.env.NATS_URL!, name: 'bench-relay' });
  const subject = process.env.RELAY_TARGET!;
  let runs = 0;
  transport.serve<{ value: string }, { id: string; status: string; output: string }>(
    RELAY_SUBJECT,
    async (input) => {
      const id = `relay-${++runs}`;
      let value = input.value;
      for (const step of ['a', 'b', 'c']) {
        const reply = await transport.requestTimed<{ value: string }>(
          subject,
          { value },
          { timeoutMs: 30_000, headers: { [IDEMPOTENCY_HEADER]: `${id}:${step}:1` } },
        );
        value = reply.value.value;
      }
      return { id, status: 'succeeded', output: value };
    },
    { queue: RELAY_SUBJECT },
  );
  await transport.flush();
  process.send?.('ready');
  process.on('SIGTERM', () => void transport.close().then(() => process.exit(0)));
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`relay failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
