import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestMicroservice } from '@nestjs/common';
import { MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { LocalNatsServer, waitUntil } from '@yunbian/common';
import { Subjects, type NodeAnnouncement, type NodeHeartbeat } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { YunbianClientProxy } from './yunbian-client-proxy';
import { YunbianServer } from './yunbian-server';

// A real nats-server and a real Nest microservice: on a loaded machine start-up alone can take seconds.
jest.setTimeout(60_000);

/** A plain Nest controller: nothing of Yunbian in it. */
@Controller()
class MathController {
  @MessagePattern('add')
  add(@Payload() input: { a: number; b: number }) {
    return { sum: input.a + input.b };
  }

  @MessagePattern('slow')
  async slow(@Payload() input: { ms: number }) {
    await new Promise((r) => setTimeout(r, input.ms));
    return { slept: input.ms };
  }

  @MessagePattern('refuse')
  refuse() {
    throw new RpcException({ code: 'BAD_REQUEST', message: 'refused on purpose' });
  }
}

@Module({ controllers: [MathController] })
class MathModule {}

describe('YunbianServer and YunbianClientProxy (real nats-server, real Nest microservice)', () => {
  let nats: LocalNatsServer;
  let observer: NatsTransport;
  let app: INestMicroservice;
  let client: YunbianClientProxy;
  const announcements: NodeAnnouncement[] = [];
  const heartbeats: NodeHeartbeat[] = [];

  beforeAll(async () => {
    nats = await LocalNatsServer.start();
    observer = await NatsTransport.connect({ servers: nats.url, name: 'observer' });
    observer.subscribe<NodeAnnouncement>(Subjects.nodeAnnounceAll, (a) => void announcements.push(a));
    observer.subscribe<NodeHeartbeat>(Subjects.nodeHeartbeatAll, (h) => void heartbeats.push(h));
    await observer.flush();
    app = await NestFactory.createMicroservice(MathModule, {
      strategy: new YunbianServer({
        connection: { servers: nats.url },
        service: 'math',
        version: '1.0.0',
        nodeId: 'nest-math',
        site: 'site-a',
        heartbeatMs: 200,
        operations: {
          add: {
            input: {
              type: 'object',
              required: ['a', 'b'],
              properties: { a: { type: 'number' }, b: { type: 'number' } },
            },
            output: { type: 'object', properties: { sum: { type: 'number' } } },
          },
          slow: { concurrency: 1 },
        },
      }),
      logger: false,
    });
    await app.listen();
    client = new YunbianClientProxy({ connection: { servers: nats.url }, resolveTimeoutMs: 3_000 });
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await observer?.close();
    await nats?.stop();
  });

  it('announces a node whose services are the patterns, with their schemas and a ready instance each', async () => {
    await waitUntil(() => announcements.some((a) => a.node.id === 'nest-math'), 10_000, 'the announcement', 20);
    const announcement = announcements.find((a) => a.node.id === 'nest-math')!;
    expect(announcement.node).toMatchObject({ site: 'site-a', labels: { runtime: 'nestjs' } });
    expect(announcement.services.map((s) => `${s.name}@${s.version}`).sort()).toEqual([
      'math-add@1.0.0',
      'math-refuse@1.0.0',
      'math-slow@1.0.0',
    ]);
    expect(announcement.services.find((s) => s.name === 'math-add')!.input).toMatchObject({ required: ['a', 'b'] });
    expect(announcement.instances.map((i) => [i.id, i.status])).toEqual(
      expect.arrayContaining([
        ['nest-math-add', 'ready'],
        ['nest-math-slow', 'ready'],
      ]),
    );
  });

  it('answers on the service subject as any Yunbian instance, checking input against the schema', async () => {
    await expect(observer.request(Subjects.service('math-add', '1.0.0'), { a: 2, b: 3 })).resolves.toEqual({ sum: 5 });
    await expect(observer.request(Subjects.service('math-add', '1.0.0'), { a: 'two', b: 3 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('/a must be number'),
    });
    await expect(observer.request(Subjects.instance('nest-math-refuse'), {})).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'refused on purpose',
    });
  });

  it('reports each operation’s load in its heartbeats', async () => {
    const calls = [1, 2, 3].map(() =>
      observer.request(Subjects.service('math-slow', '1.0.0'), { ms: 600 }, { timeoutMs: 10_000 }),
    );
    const busy = async () => {
      for (let i = 0; i < 100; i++) {
        const seen = heartbeats
          .filter((h) => h.nodeId === 'nest-math')
          .flatMap((h) => h.instances)
          .find((r) => r.id === 'nest-math-slow' && r.inFlight === 1 && r.queued >= 1);
        if (seen) return seen;
        await new Promise((r) => setTimeout(r, 50));
      }
      return undefined;
    };
    // Concurrency 1: one runs, the others wait in the instance's queue, and the heartbeat says so.
    await expect(busy()).resolves.toBeDefined();
    await expect(Promise.all(calls)).resolves.toHaveLength(3);
  });

  it('lets a Nest client call an operation by <app>.<pattern> and a service by name@range', async () => {
    await expect(firstValueFrom(client.send('math.add', { a: 1, b: 41 }))).resolves.toEqual({ sum: 42 });
    await expect(firstValueFrom(client.send('math-add@^1', { a: 1, b: 1 }))).resolves.toEqual({ sum: 2 });
    await expect(firstValueFrom(client.send('math.add@^2', { a: 1, b: 1 }))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'no version of math-add satisfies "^2" (catalogued: 1.0.0)',
    });
  });

  it('says the app’s instances cannot be started by the orchestrator, and how to get more', async () => {
    await expect(
      observer.request(Subjects.nodeStartInstance('nest-math'), {
        instanceId: 'x1',
        service: 'math-add',
        version: '1.0.0',
      }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('run more replicas of the app') });
  });
});
