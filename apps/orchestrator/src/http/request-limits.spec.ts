import { contentTypeProblem, nestingExceeds, routeParamProblem, valueNestingExceeds } from './request-limits';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('nestingExceeds', () => {
  it('counts brackets of arrays and objects, not those inside strings', () => {
    expect(nestingExceeds(bytes('{"a":[1,{"b":[]}]}'), 4)).toBe(false);
    expect(nestingExceeds(bytes('{"a":[1,{"b":[]}]}'), 3)).toBe(true);
    expect(nestingExceeds(bytes('{"a":"[[[[[[[[[["}'), 1)).toBe(false);
    // An escaped quote does not end the string.
    expect(nestingExceeds(bytes('{"a":"\\"[[[[[[["}'), 1)).toBe(false);
  });

  it('finds 10,000 levels in one pass, and siblings do not add up', () => {
    expect(nestingExceeds(bytes('['.repeat(10_000) + ']'.repeat(10_000)), 100)).toBe(true);
    expect(nestingExceeds(bytes('[[]]'.repeat(5_000)), 2)).toBe(false);
  });
});

describe('valueNestingExceeds', () => {
  it('measures parsed values iteratively', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    expect(valueNestingExceeds(deep, 100)).toBe(true);
    expect(valueNestingExceeds({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(valueNestingExceeds({ a: [{ b: 1 }] }, 2)).toBe(true);
    expect(valueNestingExceeds('text', 0)).toBe(false);
  });
});

describe('contentTypeProblem', () => {
  const json = ['application/json'];

  it('refuses a body of another type or none, naming what the route reads', () => {
    expect(contentTypeProblem('POST', { 'content-length': '5', 'content-type': 'application/xml' }, json)).toBe(
      `this route reads a body of Content-Type application/json; got "application/xml": send -H 'content-type: application/json'`,
    );
    expect(contentTypeProblem('POST', { 'content-length': '5' }, json)).toMatch(/got no Content-Type/);
    expect(
      contentTypeProblem(
        'PUT',
        { 'transfer-encoding': 'chunked', 'content-type': 'multipart/form-data; boundary=x' },
        json,
      ),
    ).toMatch(/"multipart\/form-data"/);
  });

  it('lets through the accepted types (parameters ignored), bodiless requests and reads', () => {
    expect(
      contentTypeProblem('POST', { 'content-length': '2', 'content-type': 'Application/JSON; charset=utf-8' }, json),
    ).toBeUndefined();
    expect(contentTypeProblem('POST', { 'content-length': '0' }, json)).toBeUndefined();
    expect(contentTypeProblem('POST', {}, json)).toBeUndefined();
    expect(contentTypeProblem('GET', { 'content-length': '5', 'content-type': 'text/xml' }, json)).toBeUndefined();
  });
});

describe('routeParamProblem', () => {
  it('accepts identifiers as names and refuses NATS wildcards, dots, spaces and long values', () => {
    expect(routeParamProblem('name', 'ocr_det-2')).toBeUndefined();
    for (const bad of ['a*b', '>', 'a.b', 'a b', '', 'ü', 'x'.repeat(129)]) {
      expect(routeParamProblem('name', bad)).toMatch(/^path parameter "name" .* is not accepted; use 1-128 letters/);
    }
  });

  it('accepts dotted ids (trigger runs) and refuses wildcards, spaces and empty parts in them', () => {
    expect(routeParamProblem('id', '0b6c1d2e-aaaa-4bbb-8ccc-123456789abc')).toBeUndefined();
    expect(routeParamProblem('id', 'on-stream.orders.1')).toBeUndefined();
    for (const bad of ['a*b', '>', 'a.>', 'a b', '', '.a', 'a..b', 'a.', 'ü', 'x'.repeat(257)]) {
      expect(routeParamProblem('id', bad)).toMatch(/^path parameter "id" .* is not accepted; use letters, digits/);
    }
  });
});
