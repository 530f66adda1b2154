import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/** One problem found in a document: where (a JSON pointer) and what is accepted. */
export interface SchemaIssue {
  pointer: string;
  message: string;
}

export function createAjv(options: { useDefaults?: boolean } = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: options.useDefaults ?? false });
  addFormats(ajv);
  return ajv;
}

function valueAt(document: unknown, pointer: string): unknown {
  let current: unknown = document;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function describe(error: ErrorObject, document: unknown): SchemaIssue {
  const params = error.params as Record<string, unknown>;
  let pointer = error.instancePath || '';
  let message = error.message ?? 'is invalid';
  switch (error.keyword) {
    case 'required':
      pointer = `${pointer}/${String(params.missingProperty)}`;
      message = 'is required';
      break;
    case 'additionalProperties':
      pointer = `${pointer}/${String(params.additionalProperty)}`;
      message = 'is not an accepted field';
      break;
    case 'enum':
      message = `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    default:
      break;
  }
  if (error.keyword !== 'required' && error.keyword !== 'additionalProperties') {
    const got = valueAt(document, error.instancePath);
    if (got !== undefined && typeof got !== 'object') message += ` (got ${JSON.stringify(got)})`;
  }
  return { pointer: pointer || '/', message };
}

/** Ajv's errors as pointer + sentence, one per problem, without duplicates. */
export function schemaIssues(validate: ValidateFunction, document: unknown): SchemaIssue[] {
  const seen = new Set<string>();
  const issues: SchemaIssue[] = [];
  for (const error of validate.errors ?? []) {
    const issue = describe(error, document);
    const key = `${issue.pointer} ${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  }
  return issues;
}

export function formatIssues(issues: SchemaIssue[]): string {
  return issues.map((i) => `${i.pointer} ${i.message}`).join('; ');
}
