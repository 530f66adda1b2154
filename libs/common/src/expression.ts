import jsonata from 'jsonata';

/** Where an expression went wrong, in jsonata's own words. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly position?: number,
    readonly token?: string,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

export interface ExpressionLimits {
  /** Wall-clock budget for one evaluation. */
  timeoutMs?: number;
  /** Nesting depth of evaluation (guards runaway recursion). */
  maxDepth?: number;
}

/** A parsed expression. Each evaluation gets its own jsonata instance, because the
 * time/depth hooks live on the instance and evaluations may overlap. */
export interface CompiledExpression {
  readonly text: string;
}

const ENTRY_HOOK = Symbol.for('jsonata.__evaluate_entry');
const EXIT_HOOK = Symbol.for('jsonata.__evaluate_exit');

interface JsonataFailure {
  message?: string;
  position?: number;
  token?: string;
  code?: string;
}

/** Parses a JSONata expression; syntax errors name the position. */
export function compileExpression(text: string): CompiledExpression {
  try {
    jsonata(text);
    return { text };
  } catch (err) {
    const e = err as JsonataFailure;
    throw new ExpressionError(`${e.message ?? String(err)} (at character ${e.position ?? '?'})`, e.position, e.token);
  }
}

interface Evaluator {
  instance: ReturnType<typeof jsonata>;
  /** Per-evaluation budget, read by the hooks installed once on the instance. */
  budget: { started: number; depth: number; timeoutMs: number; maxDepth: number };
}

/**
 * Parsed jsonata instances, reused. The time/depth hooks live on an instance, so one
 * instance serves one evaluation at a time: overlapping evaluations take another.
 */
const idle = new Map<string, Evaluator[]>();
const MAX_CACHED_TEXTS = 2_000;
const MAX_IDLE_PER_TEXT = 16;

function acquire(text: string): Evaluator {
  const pooled = idle.get(text)?.pop();
  if (pooled) return pooled;
  let instance: ReturnType<typeof jsonata>;
  try {
    instance = jsonata(text);
  } catch (err) {
    const e = err as JsonataFailure;
    throw new ExpressionError(`${e.message ?? String(err)} (at character ${e.position ?? '?'})`, e.position, e.token);
  }
  const budget = { started: 0, depth: 0, timeoutMs: 0, maxDepth: 0 };
  const check = () => {
    if (budget.depth > budget.maxDepth) {
      throw new ExpressionError(`expression nests deeper than ${budget.maxDepth} levels (runaway recursion?)`);
    }
    if (Date.now() - budget.started > budget.timeoutMs) {
      throw new ExpressionError(`expression ran longer than ${budget.timeoutMs} ms`);
    }
  };
  // jsonata calls these hooks around every evaluation step (its timebox pattern).
  instance.assign(ENTRY_HOOK as unknown as string, () => {
    budget.depth++;
    check();
  });
  instance.assign(EXIT_HOOK as unknown as string, () => {
    budget.depth--;
    check();
  });
  return { instance, budget };
}

function release(text: string, evaluator: Evaluator): void {
  let list = idle.get(text);
  if (!list) {
    if (idle.size >= MAX_CACHED_TEXTS) idle.delete(idle.keys().next().value!);
    list = [];
    idle.set(text, list);
  }
  if (list.length < MAX_IDLE_PER_TEXT) list.push(evaluator);
}

/**
 * Evaluates with bounds on time and depth, so a hostile or mistaken expression
 * (an infinite recursion, a huge range) fails fast instead of hanging a process.
 */
export async function evaluateExpression(
  expression: CompiledExpression,
  input: unknown,
  bindings: Record<string, unknown> = {},
  limits: ExpressionLimits = {},
): Promise<unknown> {
  const evaluator = acquire(expression.text);
  const budget = evaluator.budget;
  budget.started = Date.now();
  budget.depth = 0;
  budget.timeoutMs = limits.timeoutMs ?? 1_000;
  budget.maxDepth = limits.maxDepth ?? 200;
  try {
    const result = await evaluator.instance.evaluate(input, bindings);
    release(expression.text, evaluator);
    return result;
  } catch (err) {
    // An instance that threw mid-evaluation may hold partial state; let it go.
    if (err instanceof ExpressionError) throw err;
    const e = err as JsonataFailure;
    throw new ExpressionError(
      `${e.message ?? String(err)}${e.position !== undefined ? ` (at character ${e.position})` : ''}`,
      e.position,
      e.token,
    );
  }
}

/** The parsed syntax tree, for static analysis (which variables an expression reads). */
export function expressionAst(text: string): unknown {
  const evaluator = acquire(text);
  const ast = evaluator.instance.ast();
  release(text, evaluator);
  return ast;
}
