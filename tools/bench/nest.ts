/**
 * What the NestJS transport costs a call: `npm run bench:nest`. One nats-server; in one
 * process, the same echo served four ways and called with sequential requests, in rounds
 * interleaved so drift on a shared machine weighs on every kind alike:
 *
 * - `NatsTransport.serve` (the project's own transport, no service runtime): the baseline;
 * - `ServiceHost` (what every Yunbian instance runs: schema check, concurrency, idempotency);
 * - `YunbianServer` (a Nest `@MessagePattern` handler through the SDK's ServiceHost), called
 *   with `NatsTransport.request`;
 * - the same, called with `YunbianClientProxy.send` (Nest's client side too).
 *
 *   npm run bench:nest            BENCH_NEST_REQUESTS=1000 BENCH_NEST_ROUNDS=5
 */
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { LocalNatsServer, median } from '@yunbian/common';
import { Subjects } from '@yunbian/contracts';
import { YunbianClientProxy, YunbianServer } from '@yunbian/nest-transport';
import { serviceDescriptorOf, ServiceHost, YunbianService } from '@yunbian/service-sdk';
import { NatsTransport } from '@yunbian/transport';

const REQUESTS = Number(process.env.BENCH_NEST_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_NEST_ROUNDS ?? 5);
const INPUT = { text: 'hello', n: 42 };
const SCHEMA = { type: 'object', properties: { text: { type: 'string' }, n: { type: 'number' } } };

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() input: unknown) {
    return input;
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

@YunbianService({ name: 'sdk-echo', version: '1.0.0', kind: 'data', input: SCHEMA })
class SdkEcho {
  handle(input: unknown) {
    return input;
  }
}

async function main(): Promise<void> {
  const nats = await LocalNatsServer.start();
  const servers = nats.url;
  const serving = await NatsTransport.connect({ servers, name: 'bench server' });
  const caller = await NatsTransport.connect({ servers, name: 'bench caller' });
  serving.serve('bench.plain', (input) => input, { queue: 'bench.plain' });
  const host = new ServiceHost(serving, serviceDescriptorOf(SdkEcho)!, new SdkEcho(), {
    instanceId: 'sdk-echo-1',
    nodeId: 'bench',
  });
  await host.start();
  const app = await NestFactory.createMicroservice(EchoModule, {
    strategy: new YunbianServer({
      connection: { servers },
      service: 'bench',
      version: '1.0.0',
      nodeId: 'bench-nest',
      operations: { echo: { input: SCHEMA } },
    }),
    logger: false,
  });
  await app.listen();
  const client = new YunbianClientProxy({ connection: { servers } });
  const nestSubject = Subjects.service('bench-echo', '1.0.0');
  const kinds: Record<string, () => Promise<unknown>> = {
    'NatsTransport.serve (baseline)': () => caller.request('bench.plain', INPUT),
    'ServiceHost (an SDK instance)': () => caller.request(Subjects.service('sdk-echo', '1.0.0'), INPUT),
    'YunbianServer (Nest handler)': () => caller.request(nestSubject, INPUT),
    'YunbianClientProxy → YunbianServer': () => firstValueFrom(client.send('bench.echo', INPUT)),
  };
  try {
    const perRequest: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
    for (const run of Object.values(kinds)) for (let i = 0; i < 200; i++) await run(); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(kinds)) {
        const start = performance.now();
        for (let i = 0; i < REQUESTS; i++) {
          const reply = (await run()) as { n?: number };
          if (reply?.n !== 42) throw new Error(`${name}: unexpected reply ${JSON.stringify(reply)}`);
        }
        perRequest[name].push((performance.now() - start) / REQUESTS);
      }
    }
    const base = median(perRequest['NatsTransport.serve (baseline)'])!;
    process.stdout.write(
      `${REQUESTS} sequential requests × ${ROUNDS} rounds; median ms per request (rounds' range):\n`,
    );
    for (const [name, values] of Object.entries(perRequest)) {
      const m = median(values)!;
      const range = `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`;
      process.stdout.write(`  ${name.padEnd(38)} ${m.toFixed(3)} ms  (${range})  ${(m / base).toFixed(2)}×\n`);
    }
  } finally {
    await client.close();
    await app.close();
    await host.drain(1_000);
    await serving.close();
    await caller.close();
    await nats.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:nest: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
