import { DefinitionSource, locateIssues } from './source-positions';

const YAML_TEXT = `name: report
description: two steps
steps:
  - id: fetch
    service: echo@^1
  - id: shout
    service: echo@^1
    dependsOn: [fetch]
    input:
      text: '=$steps.fetch.output'
`;

describe('DefinitionSource', () => {
  const source = new DefinitionSource(YAML_TEXT);

  it('parses the text it was given', () => {
    expect(source.syntaxError()).toBeUndefined();
    expect((source.value() as { steps: unknown[] }).steps).toHaveLength(2);
  });

  it('maps a pointer to the line of the key it names', () => {
    expect(source.position('/name')).toEqual({ line: 1, column: 1 });
    expect(source.position('/steps/1/service')).toEqual({ line: 7, column: 5 });
    expect(source.position('/steps/1/input/text')).toEqual({ line: 10, column: 7 });
    expect(source.position('/steps/1/dependsOn/0')?.line).toBe(8);
  });

  it('reports a missing member at the deepest part the pointer reaches', () => {
    // steps/0 has no `timeoutMs`: the list item (line 4) is where it belongs.
    expect(source.position('/steps/0/timeoutMs')).toEqual({ line: 4, column: 5 });
    expect(source.position('/steps/9')?.line).toBe(3);
    expect(source.position('')?.line).toBe(1);
  });

  it('maps pointers in JSON text too', () => {
    const json = new DefinitionSource('{\n  "name": "x",\n  "steps": [\n    { "id": "a", "service": "s@1" }\n  ]\n}');
    expect(json.position('/steps/0/service')).toEqual({ line: 4, column: 18 });
  });

  it('says where a syntax error is', () => {
    const broken = new DefinitionSource('name: x\nsteps:\n  - id: a\n   service: [\n');
    const error = broken.syntaxError();
    expect(error?.message).toBeTruthy();
    expect(error?.position?.line).toBeGreaterThanOrEqual(3);
  });

  it('tells a text nested past the parser from a syntax error', () => {
    expect(new DefinitionSource('['.repeat(12_000)).tooDeep).toBe(true);
    expect(new DefinitionSource('name: x\nsteps: [\n').tooDeep).toBe(false);
  });

  it('unescapes ~1 and ~0 in pointer segments', () => {
    const odd = new DefinitionSource('labels:\n  a/b: 1\n  c~d: 2\n');
    expect(odd.position('/labels/a~1b')?.line).toBe(2);
    expect(odd.position('/labels/c~0d')?.line).toBe(3);
  });
});

describe('locateIssues', () => {
  it('adds line and column to each issue, and leaves issues of a parsed object without them', () => {
    const source = new DefinitionSource('name: x\nsteps:\n  - id: a\n    sevice: s@1\n');
    expect(locateIssues(source, [{ pointer: '/steps/0/sevice', message: 'unknown property' }])).toEqual([
      { pointer: '/steps/0/sevice', message: 'unknown property', line: 4, column: 5 },
    ]);
    expect(locateIssues(undefined, [{ pointer: '/name', message: 'm' }])).toEqual([{ pointer: '/name', message: 'm' }]);
  });
});
