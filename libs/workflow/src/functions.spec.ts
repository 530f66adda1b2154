import jsonata from 'jsonata';
import { EXPRESSION_FUNCTIONS, unknownFunctionCalls } from './functions';

describe('EXPRESSION_FUNCTIONS', () => {
  it('are each a function in the jsonata the project runs (and a made-up name is not)', async () => {
    const types = await Promise.all(
      [...EXPRESSION_FUNCTIONS, 'noSuchFunction'].map(async (name) => [
        name,
        await jsonata(`$type($${name})`).evaluate({}),
      ]),
    );
    expect(types.filter(([name, type]) => (name === 'noSuchFunction') === (type === 'function'))).toEqual([]);
  });
});

describe('unknownFunctionCalls', () => {
  it('finds calls of functions that do not exist, in calls, partial applications and ~> chains', () => {
    expect(unknownFunctionCalls('$uppercase($input.name)')).toEqual([]);
    expect(unknownFunctionCalls('$toUpper($input.name)')).toEqual(['toUpper']);
    expect(unknownFunctionCalls('$map($input.xs, $frob(?, 2))')).toEqual(['frob']);
    expect(unknownFunctionCalls('$input.name ~> $trim ~> $shout')).toEqual(['shout']);
    expect(unknownFunctionCalls('$sum($input.readings.$round(celsius, 1))')).toEqual([]);
    expect(unknownFunctionCalls('$a($b(1)) & $a(2)')).toEqual(['a', 'b']);
  });

  it('accepts functions the expression defines and lambda parameters it calls', () => {
    expect(unknownFunctionCalls('($double := function($x) { $x * 2 }; $double($input.n))')).toEqual([]);
    expect(unknownFunctionCalls('$map($input.xs, function($v, $i) { $i($v) })')).toEqual([]);
  });

  it('ignores values that are not called', () => {
    expect(unknownFunctionCalls('$steps.a.output.value & $input.x & $item')).toEqual([]);
  });
});
