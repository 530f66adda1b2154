import { splitSse } from './sse';

describe('splitSse', () => {
  it('returns complete events and keeps a partial one for the next chunk', () => {
    const first = splitSse('id: 1\nevent: run\ndata: {"status":"running"}\n\n: keep-alive\n\nevent: end\ndata: {"sta');
    expect(first.events).toEqual([{ event: 'run', data: '{"status":"running"}' }]);
    const second = splitSse(`${first.rest}tus":"succeeded"}\n\n`);
    expect(second.events).toEqual([{ event: 'end', data: '{"status":"succeeded"}' }]);
    expect(second.rest).toBe('');
  });

  it('joins multi-line data and names unnamed events message', () => {
    expect(splitSse('data: a\ndata: b\r\n\r\n').events).toEqual([{ event: 'message', data: 'a\nb' }]);
  });
});
