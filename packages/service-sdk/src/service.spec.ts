import {
  defineService,
  describeService,
  isServiceError,
  serviceDescriptorOf,
  ServiceError,
  YunbianService,
  type ServiceHandler,
} from './index';

describe('the service SDK package', () => {
  it('fills every default a definition leaves out', () => {
    expect(describeService({ name: 'hello', version: '1.0.0', kind: 'data' })).toEqual({
      name: 'hello',
      version: '1.0.0',
      kind: 'data',
      description: '',
      input: {},
      output: {},
      requirements: {},
      concurrency: 4,
      isolation: 'process',
    });
  });

  it('defineService makes a class that carries its descriptor and calls handle', async () => {
    const Hello = defineService<{ who: string }, { greeting: string }>({
      name: 'hello',
      version: '1.2.0',
      kind: 'data',
      concurrency: 2,
      handle: ({ who }, context) => ({ greeting: `hello ${who} from ${context.nodeId}` }),
    });
    expect(serviceDescriptorOf(Hello)).toMatchObject({ name: 'hello', version: '1.2.0', concurrency: 2 });
    expect(Hello.name).toBe('helloService');
    const handler = new Hello() as ServiceHandler<{ who: string }>;
    await expect(
      Promise.resolve(handler.handle({ who: 'ann' }, { instanceId: 'i', nodeId: 'n1', config: {} })),
    ).resolves.toEqual({
      greeting: 'hello ann from n1',
    });
    expect(handler.reconfigure).toBeUndefined();
  });

  it('the decorator marks a class under a global symbol, so any copy of the package reads it', () => {
    @YunbianService({ name: 'marked', version: '0.1.0', kind: 'inference' })
    class Marked {
      handle() {
        return 1;
      }
    }
    expect((Marked as unknown as Record<symbol, unknown>)[Symbol.for('yunbian.service')]).toMatchObject({
      name: 'marked',
    });
    expect(serviceDescriptorOf({})).toBeUndefined();
  });

  it('recognises a ServiceError by its mark, not by its class (another copy of the package)', () => {
    expect(isServiceError(new ServiceError('NOT_FOUND', 'no such sensor', { id: 3 }))).toBe(true);
    const foreign = Object.assign(new Error('from another copy'), { code: 'BAD_REQUEST' });
    expect(isServiceError(foreign)).toBe(false);
    Object.defineProperty(foreign, Symbol.for('yunbian.service-error'), { value: true });
    expect(isServiceError(foreign)).toBe(true);
    const unknownCode = Object.assign(new ServiceError('INTERNAL', 'x'), { code: 'NOPE' });
    expect(isServiceError(unknownCode)).toBe(false);
    expect(new ServiceError('NOT_FOUND', 'no such sensor', { id: 3 }).toBody()).toEqual({
      code: 'NOT_FOUND',
      message: 'no such sensor',
      details: { id: 3 },
    });
  });
});
