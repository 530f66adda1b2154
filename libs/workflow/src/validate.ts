import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import semver from 'semver';
import { compileExpression, createAjv, ExpressionError, schemaIssues, type SchemaIssue } from '@yunbian/common';
import { OBJECTIVE_FORMS } from '@yunbian/contracts';
import { LIMITS, type StepDefinition, type WorkflowDefinition } from './definition';
import { EXPRESSION_FUNCTIONS, unknownFunctionCalls } from './functions';
import { dependencies, findCycle, stepExpressions } from './graph';
import { DEFAULT_HARD_RULE } from './hard-examples';
import { mappingExpressions, stepReferences } from './mapping';
import { modelRefProblem } from './model-ref';
import { splitStepProblems } from './split-step';
import { triggerExpressions, triggerIssues } from './triggers';
import { WORKFLOW_SCHEMA } from './workflow.schema';

export interface ValidationContext {
  /** Catalogued versions of a service (empty when the catalogue does not know it). */
  serviceVersions(name: string): string[];
  /** Stored versions of a workflow (empty when none). */
  workflowVersions(name: string): number[];
}

export interface ValidationResult {
  definition?: WorkflowDefinition;
  issues: SchemaIssue[];
}

const ajv = createAjv({ useDefaults: false });
const validateSchema = ajv.compile(WORKFLOW_SCHEMA);

/**
 * Compiles a definition's `input` strictly: a keyword JSON Schema does not have is an error
 * (the lenient validator ignores it). That is how a step's `input:` mapping indented one level
 * too little shows up, as the workflow's input schema `{ image: "=$input.image" }`, which would
 * otherwise accept every input. Annotations OpenAPI users write (`example`) are allowed.
 */
const strictAjv = new Ajv({ strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false });
addFormats(strictAjv);
strictAjv.addVocabulary(['example']);

const SCHEMA_HINT =
  'a JSON Schema such as { type: object, required: [image], properties: { image: { type: string } } }';

/** Why `input` is not the JSON Schema of a run input (with a pointer into it), or nothing. */
export function inputSchemaIssues(input: Record<string, unknown>): SchemaIssue[] {
  try {
    strictAjv.compile(input);
    return [];
  } catch (err) {
    const message = (err as Error).message;
    const keyword = /unknown keyword: "([^"]*)"/.exec(message)?.[1];
    if (keyword === undefined)
      return [{ pointer: '/input', message: `is not a usable JSON Schema: ${message}; give ${SCHEMA_HINT}` }];
    const pointer = keywordPointer(input, keyword);
    const top = pointer === `/input/${keyword.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    return [
      {
        pointer,
        message: `"${keyword}" is not a JSON Schema keyword: /input is the JSON Schema the run input must match${
          top ? ' (a step input or mapping indented one level too little lands here)' : ''
        }; give ${SCHEMA_HINT}`,
      },
    ];
  }
}

/** Where the first occurrence of `keyword` is in a schema, as a JSON pointer from the definition. */
function keywordPointer(schema: unknown, keyword: string, at = '/input'): string {
  const escape = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
  const queue: [unknown, string][] = [[schema, at]];
  while (queue.length) {
    const [node, here] = queue.shift()!;
    if (node === null || typeof node !== 'object') continue;
    if (!Array.isArray(node) && Object.hasOwn(node, keyword)) return `${here}/${escape(keyword)}`;
    for (const [k, v] of Object.entries(node)) queue.push([v, `${here}/${escape(k)}`]);
  }
  return at;
}

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let max = 0;
  for (const child of Object.values(value)) max = Math.max(max, depthOf(child));
  return max + 1;
}

/** Splits `name@range`; a missing range means any version. */
export function parseRef(ref: string): { name: string; range: string } {
  const at = ref.indexOf('@');
  return at < 0 ? { name: ref, range: '*' } : { name: ref.slice(0, at), range: ref.slice(at + 1) };
}

/**
 * Checks a submitted definition completely and reports every problem with a JSON
 * pointer: size and depth limits, the schema, duplicate ids, unknown services and
 * versions, sub-workflows, expression syntax, references to unknown steps, cycles, and
 * triggers (kind, subjects, stream names, cron expressions and time zones, their mappings).
 */
export function validateDefinition(raw: unknown, context: ValidationContext): ValidationResult {
  const bytes = Buffer.byteLength(JSON.stringify(raw ?? null));
  if (bytes > LIMITS.definitionBytes) {
    return {
      issues: [{ pointer: '/', message: `definition is ${bytes} bytes; the limit is ${LIMITS.definitionBytes}` }],
    };
  }
  const depth = depthOf(raw);
  if (depth > LIMITS.depth) {
    return {
      issues: [{ pointer: '/', message: `definition nests ${depth} levels deep; the limit is ${LIMITS.depth}` }],
    };
  }
  if (!validateSchema(raw)) return { issues: schemaIssues(validateSchema, raw).map(acceptedForms) };
  const definition = raw as unknown as WorkflowDefinition;
  const issues: SchemaIssue[] = [];
  const ids = new Map<string, number>();

  definition.steps.forEach((step, i) => {
    const first = ids.get(step.id);
    if (first !== undefined)
      issues.push({ pointer: `/steps/${i}/id`, message: `duplicate step id "${step.id}" (first at /steps/${first})` });
    else ids.set(step.id, i);
  });

  definition.steps.forEach((step, i) => {
    const at = `/steps/${i}`;
    if (step.service) checkService(step.service, `${at}/service`, context, issues);
    if (step.escalate) checkService(step.escalate.service, `${at}/escalate/service`, context, issues);
    if (step.onError && typeof step.onError === 'object') {
      checkService(step.onError.fallback.service, `${at}/onError/fallback/service`, context, issues);
    }
    if (step.workflow) checkWorkflow(step, definition.name, `${at}/workflow`, context, issues);
    if (step.tiers) checkTiers(step, at, context, issues);
    else if (step.collect)
      issues.push({
        pointer: `${at}/collect`,
        message: 'collect keeps the hard examples of a tiered step: give the step tiers, or drop collect',
      });
    issues.push(...splitStepProblems(step, at));
    if (step.model !== undefined && !step.split) {
      const problem = step.tiers
        ? 'a tiered step names its models per tier: move model into its tiers (tiers/<i>/model)'
        : step.service
          ? modelRefProblem(step.model)
          : 'a step naming a model calls a service serving it: add service (e.g. onnx-inference@^1)';
      if (problem) issues.push({ pointer: `${at}/model`, message: problem });
    }
    for (const [j, dep] of (step.after ?? []).entries()) {
      if (!ids.has(dep)) issues.push({ pointer: `${at}/after/${j}`, message: `unknown step "${dep}"${known(ids)}` });
      if (dep === step.id) issues.push({ pointer: `${at}/after/${j}`, message: 'a step cannot run after itself' });
    }
    for (const expression of stepExpressions(step, i)) checkExpression(expression, step.id, ids, issues);
  });
  for (const expression of mappingExpressions(definition.output, '/output'))
    checkExpression(expression, undefined, ids, issues);
  issues.push(...triggerIssues(definition));
  for (const expression of triggerExpressions(definition)) checkTriggerExpression(expression, issues);

  if (definition.input) issues.push(...inputSchemaIssues(definition.input));

  if (issues.length === 0) {
    const cycle = findCycle(dependencies(definition));
    if (cycle) {
      issues.push({ pointer: `/steps/${ids.get(cycle[0])}`, message: `steps ${cycle.join(' → ')} form a cycle` });
    }
  }
  return issues.length ? { issues } : { definition, issues };
}

const OBJECTIVE_FIELD = /\/placement\/objective$/;

/** A pattern the schema checks says in words what it accepts (Ajv would quote the regular expression). */
function acceptedForms(issue: SchemaIssue): SchemaIssue {
  if (!OBJECTIVE_FIELD.test(issue.pointer) || !issue.message.startsWith('must match pattern')) return issue;
  const got = / \(got .*\)$/.exec(issue.message)?.[0] ?? '';
  return { pointer: issue.pointer, message: `must be one of ${OBJECTIVE_FORMS}${got}` };
}

function known(ids: Map<string, number>): string {
  return `; steps are: ${[...ids.keys()].join(', ')}`;
}

function checkService(ref: string, pointer: string, context: ValidationContext, issues: SchemaIssue[]): void {
  const { name, range } = parseRef(ref);
  if (!semver.validRange(range)) {
    issues.push({ pointer, message: `"${range}" is not a semver version or range (try 1.0.0 or ^1)` });
    return;
  }
  const versions = context.serviceVersions(name);
  if (versions.length === 0) {
    issues.push({ pointer, message: `unknown service "${name}": no node in the catalogue offers it` });
  } else if (!semver.maxSatisfying(versions, range)) {
    issues.push({
      pointer,
      message: `no catalogued version of ${name} satisfies "${range}" (catalogued: ${versions.join(', ')})`,
    });
  }
}

/** A tiered step: its tiers' services and models, a hard rule on every tier but the last, rules' fields. */
function checkTiers(step: StepDefinition, at: string, context: ValidationContext, issues: SchemaIssue[]): void {
  if (step.escalate) {
    issues.push({
      pointer: `${at}/escalate`,
      message: 'a tiered step escalates through its tiers: drop escalate, or add its service as the last tier',
    });
  }
  const tiers = step.tiers!;
  tiers.forEach((tier, t) => {
    const here = `${at}/tiers/${t}`;
    checkService(tier.service, `${here}/service`, context, issues);
    if (tier.model !== undefined) {
      const problem = modelRefProblem(tier.model);
      if (problem) issues.push({ pointer: `${here}/model`, message: problem });
    }
    if (t === tiers.length - 1 && tier.hard) {
      issues.push({
        pointer: `${here}/hard`,
        message: `the last tier (${t}) answers every sample it gets: a hard-example rule there has no tier to send them to; drop hard or add a tier after it`,
      });
    }
    const rule = tier.hard?.rule ?? DEFAULT_HARD_RULE;
    if (tier.hard?.box !== undefined && rule !== 'ibt') {
      issues.push({
        pointer: `${here}/hard/box`,
        message: `box is the box score threshold of rule ibt; rule ${rule} has only threshold`,
      });
    }
  });
}

function checkWorkflow(
  step: StepDefinition,
  self: string,
  pointer: string,
  context: ValidationContext,
  issues: SchemaIssue[],
): void {
  const { name, range } = parseRef(step.workflow!);
  if (name === self) {
    issues.push({ pointer, message: `workflow ${self} cannot call itself` });
    return;
  }
  const versions = context.workflowVersions(name);
  if (versions.length === 0) issues.push({ pointer, message: `unknown workflow "${name}"` });
  else if (range !== '*' && !versions.includes(Number(range))) {
    issues.push({ pointer, message: `workflow ${name} has no version ${range} (stored: ${versions.join(', ')})` });
  }
}

function checkExpression(
  expression: { pointer: string; text: string },
  stepId: string | undefined,
  ids: Map<string, number>,
  issues: SchemaIssue[],
): void {
  if (!compiles(expression, issues)) return;
  for (const ref of stepReferences(expression.text)) {
    if (ref === '*')
      issues.push({
        pointer: expression.pointer,
        message: 'refer to steps by id ($steps.<id>), not to $steps as a whole',
      });
    else if (ref === stepId)
      issues.push({ pointer: expression.pointer, message: `step "${stepId}" cannot read its own output` });
    else if (!ids.has(ref))
      issues.push({ pointer: expression.pointer, message: `references unknown step "${ref}"${known(ids)}` });
  }
}

/** False (and an issue at its pointer) when the expression does not compile or calls a function that does not exist. */
function compiles(expression: { pointer: string; text: string }, issues: SchemaIssue[]): boolean {
  try {
    compileExpression(expression.text);
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    issues.push({ pointer: expression.pointer, message: `invalid expression: ${err.message}` });
    return false;
  }
  const unknown = unknownFunctionCalls(expression.text);
  for (const name of unknown) {
    const near = closestFunction(name);
    issues.push({
      pointer: expression.pointer,
      message: `calls $${name}, which is not a JSONata function${near ? ` (did you mean $${near}?)` : ''}: expressions may call JSONata's built-ins (https://docs.jsonata.org/overview) or functions they define themselves`,
    });
  }
  return unknown.length === 0;
}

/** The built-in a misspelt function name most likely meant: same letters in another case, a couple of edits away, or a prefix. */
function closestFunction(name: string): string | undefined {
  const lower = name.toLowerCase();
  return (
    EXPRESSION_FUNCTIONS.find((f) => f.toLowerCase() === lower) ??
    EXPRESSION_FUNCTIONS.find((f) => editDistance(f.toLowerCase(), lower) <= Math.min(2, Math.floor(f.length / 3))) ??
    // $upper → $uppercase, and names from other languages: $toUpper → $uppercase, $toString → $string.
    [lower, lower.replace(/^(to|get|is)/, '')]
      .filter((stem) => stem.length >= 3)
      .map((stem) => EXPRESSION_FUNCTIONS.find((f) => f.toLowerCase().startsWith(stem)))
      .find((f) => f !== undefined)
  );
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** A trigger's input mapping runs before any step: it may read `$trigger`, never `$steps`. */
function checkTriggerExpression(expression: { pointer: string; text: string }, issues: SchemaIssue[]): void {
  if (!compiles(expression, issues)) return;
  if (stepReferences(expression.text).length > 0)
    issues.push({
      pointer: expression.pointer,
      message: 'a trigger input is read before any step runs: it sees $trigger (data, subject, seq…), not $steps',
    });
}
