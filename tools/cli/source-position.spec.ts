import { locatePointer, pointerSegments } from './source-position';

const YAML_TEXT = `# a comment line
name: wf
steps:
  - id: a
    service: echo
    retry:
      maxAttempts: 0
  - id: b
    service: echo
    input: { "a/b": 1, "t~x": 2 }
`;

describe('pointerSegments', () => {
  it('splits and unescapes RFC 6901 pointers', () => {
    expect(pointerSegments('')).toEqual([]);
    expect(pointerSegments('/steps/0/id')).toEqual(['steps', '0', 'id']);
    expect(pointerSegments('/input/a~1b/t~0x')).toEqual(['input', 'a/b', 't~x']);
  });
});

describe('locatePointer', () => {
  it('finds the key of a nested mapping entry in YAML', () => {
    expect(locatePointer(YAML_TEXT, '/steps/0/retry/maxAttempts')).toEqual({
      line: 7,
      col: 7,
      found: '/steps/0/retry/maxAttempts',
    });
    expect(locatePointer(YAML_TEXT, '/steps/0/retry')).toMatchObject({ line: 6, col: 5 });
  });

  it('finds a sequence item and escaped keys in flow mappings', () => {
    expect(locatePointer(YAML_TEXT, '/steps/1')).toMatchObject({ line: 8, col: 5 });
    expect(locatePointer(YAML_TEXT, '/steps/1/input/a~1b')).toMatchObject({
      line: 10,
      col: 14,
      found: '/steps/1/input/a~1b',
    });
    expect(locatePointer(YAML_TEXT, '/steps/1/input/t~0x')).toMatchObject({ line: 10, col: 24 });
  });

  it('lands on the deepest part that exists when the pointer names something missing', () => {
    expect(locatePointer(YAML_TEXT, '/steps/1/when')).toEqual({ line: 8, col: 5, found: '/steps/1' });
    expect(locatePointer(YAML_TEXT, '/steps/7/id')).toEqual({ line: 3, col: 1, found: '/steps' });
    // The root: the first line of content, past the comment.
    expect(locatePointer(YAML_TEXT, '')).toEqual({ line: 2, col: 1, found: '' });
  });

  it('works on JSON text (JSON is YAML)', () => {
    const json = JSON.stringify(
      { name: 'wf', steps: [{ id: 'a', service: 'echo', retry: { maxAttempts: 0 } }] },
      null,
      2,
    );
    expect(locatePointer(json, '/steps/0/retry/maxAttempts')).toMatchObject({ line: 8, col: 9 });
  });

  it('is undefined for text that does not parse', () => {
    expect(locatePointer('steps: [a, b', '/steps/0')).toBeUndefined();
  });
});
