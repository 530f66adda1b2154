import { YunbianError } from '@yunbian/contracts';
import { chooseServiceVersion, errorFromHandler, parseClientPattern } from './patterns';

describe('parseClientPattern', () => {
  it('reads workflows, services with and without ranges, and app operations', () => {
    expect(parseClientPattern('workflow:edge-report')).toEqual({ kind: 'workflow', workflow: 'edge-report' });
    expect(parseClientPattern('workflow:edge-report@3')).toEqual({
      kind: 'workflow',
      workflow: 'edge-report',
      version: 3,
    });
    expect(parseClientPattern('json-transform@^1')).toEqual({
      kind: 'service',
      service: 'json-transform',
      range: '^1',
    });
    expect(parseClientPattern('json-transform')).toEqual({ kind: 'service', service: 'json-transform', range: '*' });
    expect(parseClientPattern('thumbs.resize@1.0.0')).toEqual({
      kind: 'service',
      service: 'thumbs-resize',
      range: '1.0.0',
    });
  });

  it('refuses what it cannot address, listing what is accepted', () => {
    expect(() => parseClientPattern('workflow:')).toThrow(/names no workflow; accepted: "workflow:<name>"/);
    expect(() => parseClientPattern('workflow:x@latest')).toThrow(
      'a workflow version is a positive integer (got "latest")',
    );
    expect(() => parseClientPattern('svc@banana')).toThrow('"banana" is not a semver range or version');
    expect(() => parseClientPattern('a.b.c')).toThrow('names no service');
    expect(() => parseClientPattern('has space')).toThrow('names no service');
  });
});

describe('chooseServiceVersion', () => {
  it('takes the newest version in range that has a ready instance, else the newest in range', () => {
    const versions = [
      { version: '1.0.0', readyInstances: 1 },
      { version: '1.4.0', readyInstances: 0 },
      { version: '2.0.0', readyInstances: 3 },
    ];
    expect(chooseServiceVersion(versions, '^1')).toBe('1.0.0');
    expect(chooseServiceVersion(versions, '*')).toBe('2.0.0');
    expect(chooseServiceVersion(versions, '~1.4')).toBe('1.4.0');
    expect(chooseServiceVersion(versions, '^3')).toBeUndefined();
  });
});

describe('errorFromHandler', () => {
  it('keeps a Yunbian code an RpcException carried, and makes the rest INTERNAL with its message', () => {
    const coded = errorFromHandler({ code: 'BAD_REQUEST', message: 'width must be even', details: { width: 3 } }, 'op');
    expect(coded).toMatchObject({ code: 'BAD_REQUEST', message: 'width must be even', details: { width: 3 } });
    expect(
      errorFromHandler({ status: 'error', message: 'Internal server error' }, 'thumbs-resize@1.0.0'),
    ).toMatchObject({
      code: 'INTERNAL',
      message: 'thumbs-resize@1.0.0: Internal server error',
    });
    expect(errorFromHandler({ code: 'NOPE', message: 'x' }, 'op').code).toBe('INTERNAL');
    expect(errorFromHandler(new Error('boom'), 'op').message).toBe('op: boom');
    const own = new YunbianError('OVERLOADED', 'busy');
    expect(errorFromHandler(own, 'op')).toBe(own);
  });
});
