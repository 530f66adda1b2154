import { describeHttpError } from './api-client';

describe('describeHttpError', () => {
  const config = { server: 'http://localhost:3000', keyFrom: 'YUNBIAN_API_KEY' };

  it("carries the server's code and message", () => {
    expect(describeHttpError('GET', '/runs/x', 404, { code: 'NOT_FOUND', message: 'run x not found' }, config)).toBe(
      'GET http://localhost:3000/runs/x: 404 NOT_FOUND: run x not found',
    );
    expect(describeHttpError('GET', '/nodes', 502, undefined, config)).toBe(
      'GET http://localhost:3000/nodes: 502 HTTP 502',
    );
  });

  it('says where the refused key came from, or how to give one', () => {
    expect(describeHttpError('GET', '/nodes', 401, { code: 'UNAUTHENTICATED', message: 'bad key' }, config)).toMatch(
      /401 UNAUTHENTICATED: bad key — the key from YUNBIAN_API_KEY was refused; give another with --key/,
    );
    expect(describeHttpError('GET', '/nodes', 401, { message: 'no key' }, { server: 'http://s' })).toMatch(
      /no key was sent; give one with --key, YUNBIAN_API_KEY .*\.yunbian\/admin-key/,
    );
    expect(describeHttpError('POST', '/workflows', 403, { code: 'FORBIDDEN', message: 'needs admin' }, config)).toMatch(
      /403 FORBIDDEN: needs admin — the key from YUNBIAN_API_KEY lacks the role/,
    );
  });
});
