import { evaluateMapping, mappingExpressions, stepReferences } from './mapping';

describe('mappings', () => {
  const bindings = {
    input: { image: 'abc', n: 3 },
    steps: { detect: { output: { boxes: [1, 2, 3] }, state: 'succeeded' } },
    item: 'x',
    index: 2,
  };

  it('evaluates a whole-string expression', async () => {
    await expect(evaluateMapping('$count($steps.detect.output.boxes) + $input.n', bindings)).resolves.toBe(6);
  });

  it('evaluates templates: "=" strings are expressions, the rest literal', async () => {
    await expect(
      evaluateMapping({ image: '=$input.image', width: 640, label: 'fixed', at: ['=$item', '=$index'] }, bindings),
    ).resolves.toEqual({ image: 'abc', width: 640, label: 'fixed', at: ['x', 2] });
  });

  it('finds expressions with their pointers', () => {
    expect(mappingExpressions({ a: '=$input', b: { c: '=1+1', d: 'plain' } }, '/steps/0/input')).toEqual([
      { pointer: '/steps/0/input/a', text: '$input' },
      { pointer: '/steps/0/input/b/c', text: '1+1' },
    ]);
    expect(mappingExpressions('$input.x', '/output')).toEqual([{ pointer: '/output', text: '$input.x' }]);
  });

  it('finds step references in the syntax tree, not in strings', () => {
    expect(stepReferences('$steps.detect.output.boxes').sort()).toEqual(['detect']);
    expect(stepReferences('{ "a": $steps.a.output, "b": $count($steps.b.output[x > 1]) }').sort()).toEqual(['a', 'b']);
    expect(stepReferences('"$steps.fake" & $input.x')).toEqual([]);
    expect(stepReferences('$keys($steps)')).toEqual(['*']);
  });
});

describe('plain paths', () => {
  const bindings = {
    input: { a: { b: 1 }, list: [{ x: 1 }, { x: 2 }] },
    steps: { s: { output: { v: 'ok' }, state: 'succeeded' } },
  };
  it('agree with JSONata', async () => {
    for (const text of ['$input.a.b', '$steps.s.output.v', '$input.missing.x', '$input.list.x', '$input']) {
      const viaJsonata = await evaluateMapping(`(${text})`, bindings);
      await expect(evaluateMapping(text, bindings)).resolves.toEqual(viaJsonata);
    }
  });
});
