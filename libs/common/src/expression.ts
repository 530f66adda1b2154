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
  const timeoutMs = limits.timeoutMs ?? 1_000;
  const maxDepth = limits.maxDepth ?? 200;
  const started = Date.now();
  let depth = 0;
  const check = () => {
    if (depth > maxDepth)
      throw new ExpressionError(`expression nests deeper than ${maxDepth} levels (runaway recursion?)`);
    if (Date.now() - started > timeoutMs) throw new ExpressionError(`expression ran longer than ${timeoutMs} ms`);
  };
  // jsonata calls these hooks around every evaluation step (its timebox pattern).
  let instance: ReturnType<typeof jsonata>;
  try {
    instance = jsonata(expression.text);
  } catch (err) {
    const e = err as JsonataFailure;
    throw new ExpressionError(`${e.message ?? String(err)} (at character ${e.position ?? '?'})`, e.position, e.token);
  }
  instance.assign(ENTRY_HOOK as unknown as string, () => {
    depth++;
    check();
  });
  instance.assign(EXIT_HOOK as unknown as string, () => {
    depth--;
    check();
  });
  try {
    return await instance.evaluate(input, bindings);
  } catch (err) {
    if (err instanceof ExpressionError) throw err;
    const e = err as JsonataFailure;
    throw new ExpressionError(
      `${e.message ?? String(err)}${e.position !== undefined ? ` (at character ${e.position})` : ''}`,
      e.position,
      e.token,
    );
  }
}
