import { NestTransportConfigError, operationServiceName, planServer, type YunbianServerOptions } from './options';

const base: YunbianServerOptions = {
  connection: { servers: 'nats://127.0.0.1:4222' },
  service: 'thumbs',
  version: '1.2.0',
};
const host = { hostname: 'box.example.org', pid: 42 };

describe('planServer', () => {
  it('makes each pattern a service <service>-<pattern> with one instance on the app node', () => {
    const plan = planServer(
      { ...base, site: 'site-a', operations: { resize: { input: { type: 'object' }, concurrency: 2 } } },
      ['resize', 'stats'],
      host,
    );
    expect(plan.node).toMatchObject({ id: 'nest-thumbs-box-example-org-42', site: 'site-a', tier: 'edge' });
    expect(plan.node.labels).toEqual({ runtime: 'nestjs' });
    expect(plan.operations.map((o) => [o.pattern, o.descriptor.name, o.instanceId])).toEqual([
      ['resize', 'thumbs-resize', 'nest-thumbs-box-example-org-42-resize'],
      ['stats', 'thumbs-stats', 'nest-thumbs-box-example-org-42-stats'],
    ]);
    expect(plan.operations[0].descriptor).toMatchObject({
      version: '1.2.0',
      kind: 'data',
      input: { type: 'object' },
      output: {},
      concurrency: 2,
      isolation: 'shared',
    });
    expect(plan.operations[1].descriptor.concurrency).toBe(4);
    expect(plan.heartbeatMs).toBe(2_000);
  });

  it('takes the node descriptor fields and an explicit service name', () => {
    const plan = planServer(
      {
        ...base,
        nodeId: 'gpu-box',
        node: { tier: 'cloud', tags: ['gpu'], costPerHour: 1.5 },
        operations: { resize: { service: 'image-thumb' } },
      },
      ['resize'],
      host,
    );
    expect(plan.node).toMatchObject({ id: 'gpu-box', tier: 'cloud', tags: ['gpu'], costPerHour: 1.5 });
    expect(plan.operations[0].descriptor.name).toBe('image-thumb');
  });

  it('reports every problem at once, each saying what is accepted', () => {
    let error: unknown;
    try {
      planServer(
        {
          connection: { servers: 'nats://x' },
          service: 'my app',
          version: 'one',
          heartbeatMs: 5,
          node: { tier: 'moon' as never },
          operations: { resise: {}, resize: { concurrency: 0 } },
        },
        ['resize', 'a.b'],
        host,
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NestTransportConfigError);
    const message = (error as Error).message;
    expect(message).toContain('service "my app" must be letters, digits, "-" and "_"');
    expect(message).toContain('version "one" is not semver');
    expect(message).toContain('heartbeatMs must be a number of at least 50 ms (got 5)');
    expect(message).toContain(
      'operations["resise"] names no @MessagePattern handler of the app (its handlers: "resize", "a.b")',
    );
    expect(message).toContain('@MessagePattern(a.b) cannot be served');
    expect(message).toContain('operations["resize"].concurrency must be a positive integer (got 0)');
    expect(message).toContain('/tier');
  });

  it('refuses an app without request handlers and two patterns with one service name', () => {
    expect(() => planServer(base, [], host)).toThrow('the app has no @MessagePattern handlers');
    expect(() => planServer({ ...base, operations: { b: { service: 'thumbs-a' } } }, ['a', 'b'], host)).toThrow(
      'two patterns map to the service name "thumbs-a"',
    );
  });

  it('keeps a default node id within 64 characters', () => {
    const plan = planServer(base, ['a'], { hostname: 'h'.repeat(100), pid: 1234567 });
    expect(plan.node.id.length).toBeLessThanOrEqual(64);
    expect(operationServiceName('thumbs', 'resize')).toBe('thumbs-resize');
  });
});
