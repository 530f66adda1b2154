import { evaluateExpression, expressionAst } from '@yunbian/common';
import type { Mapping } from './definition';

/** An expression found in a definition, with where it is. */
export interface LocatedExpression {
  pointer: string;
  text: string;
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** True for template strings that are expressions (`= …`). */
export function isTemplateExpression(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('=');
}

/** Every expression in a mapping: the whole string at the top, `=`-strings inside templates. */
export function mappingExpressions(mapping: Mapping | undefined, pointer: string): LocatedExpression[] {
  if (mapping === undefined) return [];
  if (typeof mapping === 'string') return [{ pointer, text: stripEquals(mapping) }];
  const found: LocatedExpression[] = [];
  const walk = (value: Mapping, at: string) => {
    if (isTemplateExpression(value)) found.push({ pointer: at, text: stripEquals(value) });
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}/${i}`));
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, `${at}/${escapePointer(k)}`);
    }
  };
  walk(mapping, pointer);
  return found;
}

function stripEquals(text: string): string {
  return text.startsWith('=') ? text.slice(1) : text;
}

export interface Bindings {
  input: unknown;
  steps: Record<string, { output?: unknown; state: string; error?: unknown }>;
  item?: unknown;
  index?: number;
  output?: unknown;
  run?: { id: string };
  /** The message or fire a trigger starts a run with (trigger input mappings only). */
  trigger?: unknown;
}

const LIMITS = { timeoutMs: 1_000, maxDepth: 200 };

/** Evaluates a mapping (expression or template) against a run's context. */
export async function evaluateMapping(mapping: Mapping | undefined, bindings: Bindings): Promise<unknown> {
  if (mapping === undefined) return undefined;
  if (typeof mapping === 'string') return evaluate(stripEquals(mapping), bindings);
  // Templates of plain paths (most step inputs) are read at once, without a promise per field.
  const plain = plainTemplate(mapping, bindings);
  return plain === NEEDS_ENGINE ? evaluateTemplate(mapping, bindings) : plain;
}

const NEEDS_ENGINE = Symbol('needs the expression engine');

/** A template evaluated synchronously when every expression in it is a plain path; else NEEDS_ENGINE. */
function plainTemplate(value: Mapping, bindings: Bindings): unknown {
  if (isTemplateExpression(value)) {
    const simple = simplePath(value, bindings, 1);
    return simple ? simple.value : NEEDS_ENGINE;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      const result = plainTemplate(v, bindings);
      if (result === NEEDS_ENGINE) return NEEDS_ENGINE;
      out.push(result);
    }
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k in value) {
      const result = plainTemplate((value as Record<string, Mapping>)[k], bindings);
      if (result === NEEDS_ENGINE) return NEEDS_ENGINE;
      if (result !== undefined) out[k] = result;
    }
    return out;
  }
  return value;
}

async function evaluateTemplate(value: Mapping, bindings: Bindings): Promise<unknown> {
  if (isTemplateExpression(value)) return evaluate(value.slice(1), bindings);
  if (Array.isArray(value)) return Promise.all(value.map((v) => evaluateTemplate(v, bindings)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const result = await evaluateTemplate(v, bindings);
      if (result !== undefined) out[k] = result;
    }
    return out;
  }
  return value;
}

/** `$input.a.b`, `$steps.x.output.y`, `$item`…: plain paths that need no expression engine. */
const SIMPLE_PATH = /^\s*\$(input|steps|item|index|output|trigger)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$/;

/**
 * Each expression text parsed once: the binding and keys of a plain path, or null for anything
 * else. Keyed by the text as written (`skip` characters of it, the `=` of a template, left out).
 */
const parsedPathsOf: Map<string, { root: string; keys: string[] } | null>[] = [new Map(), new Map()];

function parsePath(text: string, skip: 0 | 1): { root: string; keys: string[] } | null {
  const parsedPaths = parsedPathsOf[skip];
  let parsed = parsedPaths.get(text);
  if (parsed === undefined) {
    const match = SIMPLE_PATH.exec(skip ? text.slice(skip) : text);
    parsed = match ? { root: match[1], keys: match[2].split('.').slice(1) } : null;
    // Texts come from definitions; the bound only guards against an unbounded stream of them.
    if (parsedPaths.size >= 10_000) parsedPaths.clear();
    parsedPaths.set(text, parsed);
  }
  return parsed;
}

function simplePath(text: string, bindings: Bindings, skip: 0 | 1 = 0): { value: unknown } | undefined {
  const path = parsePath(text, skip);
  if (!path) return undefined;
  let value: unknown = (bindings as unknown as Record<string, unknown>)[path.root];
  for (const key of path.keys) {
    // JSONata maps paths over arrays; leave those to it.
    if (Array.isArray(value)) return undefined;
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  }
  return Array.isArray(value) && value.length === 0 ? undefined : { value };
}

/** Evaluates one expression; the context's fields are `$input`, `$steps`, `$item`, `$index`, `$output` (`$trigger` in trigger mappings). */
export function evaluate(text: string, bindings: Bindings): Promise<unknown> {
  // Most mappings are plain paths; reading them directly keeps dispatch cheap.
  const simple = simplePath(text, bindings);
  if (simple) return Promise.resolve(simple.value);
  return evaluateExpression({ text }, bindings.input, bindings as unknown as Record<string, unknown>, LIMITS);
}

/** Step ids an expression reads through `$steps.<id>`; `$steps` used whole is reported as '*'. */
export function stepReferences(text: string): string[] {
  const refs = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as { type?: string; value?: unknown; steps?: { type?: string; value?: unknown }[] };
    if (
      n.type === 'path' &&
      Array.isArray(n.steps) &&
      n.steps[0]?.type === 'variable' &&
      n.steps[0].value === 'steps'
    ) {
      const next = n.steps[1];
      if (next?.type === 'name' && typeof next.value === 'string') refs.add(next.value);
      else refs.add('*');
      // The `$steps` variable itself is accounted for; look inside the rest (predicates, calls).
      n.steps.slice(1).forEach(visit);
      return;
    } else if (n.type === 'variable' && n.value === 'steps') {
      refs.add('*');
    }
    for (const [key, child] of Object.entries(n)) if (key !== 'value' || typeof child === 'object') visit(child);
  };
  visit(expressionAst(text));
  return [...refs];
}
