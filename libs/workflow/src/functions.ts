import { expressionAst } from '@yunbian/common';

/**
 * The functions an expression in a definition may call: JSONata's built-ins (jsonata 2.x's
 * function library, `$now` and `$millis` included). The engine registers no functions of its
 * own: `$input`, `$steps`, `$item`, `$index`, `$output`, `$run` and `$trigger` are values. A
 * spec checks every name here is a function in the jsonata the project runs.
 */
export const EXPRESSION_FUNCTIONS: readonly string[] = [
  // numeric and aggregation
  'sum',
  'count',
  'max',
  'min',
  'average',
  'number',
  'abs',
  'floor',
  'ceil',
  'round',
  'power',
  'sqrt',
  'random',
  'formatNumber',
  'formatBase',
  'formatInteger',
  'parseInteger',
  // strings
  'string',
  'substring',
  'substringBefore',
  'substringAfter',
  'lowercase',
  'uppercase',
  'length',
  'trim',
  'pad',
  'match',
  'contains',
  'replace',
  'split',
  'join',
  'base64encode',
  'base64decode',
  'encodeUrlComponent',
  'encodeUrl',
  'decodeUrlComponent',
  'decodeUrl',
  'eval',
  // boolean, arrays, objects, higher-order
  'boolean',
  'not',
  'exists',
  'append',
  'reverse',
  'sort',
  'shuffle',
  'distinct',
  'zip',
  'keys',
  'lookup',
  'spread',
  'merge',
  'sift',
  'each',
  'error',
  'assert',
  'type',
  'clone',
  'map',
  'filter',
  'single',
  'reduce',
  // dates
  'now',
  'millis',
  'fromMillis',
  'toMillis',
];

const KNOWN = new Set(EXPRESSION_FUNCTIONS);

interface AstNode {
  type?: string;
  value?: unknown;
  procedure?: AstNode;
  lhs?: AstNode;
  rhs?: AstNode;
  arguments?: AstNode[];
}

/**
 * The functions an expression calls (`$f(…)`, `$f(?, 1)`, `… ~> $f`) that are neither JSONata
 * built-ins nor bound in the expression itself (`$f := function($x) {…}`, a lambda's parameters),
 * in the order they appear. Such a call parses, and fails every evaluation.
 */
export function unknownFunctionCalls(text: string): string[] {
  const ast = expressionAst(text);
  const bound = new Set<string>();
  const called: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const n = node as AstNode;
    if (n.type === 'bind' && n.lhs?.type === 'variable') bound.add(String(n.lhs.value));
    if (n.type === 'lambda')
      for (const arg of n.arguments ?? []) if (arg.type === 'variable') bound.add(String(arg.value));
    if ((n.type === 'function' || n.type === 'partial') && n.procedure?.type === 'variable')
      called.push(String(n.procedure.value));
    if (n.type === 'apply' && n.rhs?.type === 'variable') called.push(String(n.rhs.value));
    for (const child of Object.values(n)) if (typeof child === 'object') visit(child);
  };
  visit(ast);
  return [...new Set(called.filter((name) => name !== '' && !KNOWN.has(name) && !bound.has(name)))];
}
