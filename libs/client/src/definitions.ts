import YAML from 'yaml';
import { YunbianError } from '@yunbian/contracts';
import { parseRef } from '@yunbian/workflow';

/** What `run` and `start` accept as the workflow: a definition object, its YAML/JSON text, or a stored workflow's name. */
export type WorkflowSource = string | Record<string, unknown>;

/** A workflow name as the definition language spells it (`name` in the schema). */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export type ParsedSource = { kind: 'name'; name: string } | { kind: 'definition'; raw: unknown };

/**
 * Tells a stored workflow's name from a definition: a string that is a workflow name is one
 * (`edge-report`); any other string is YAML (or JSON) text of a definition.
 */
export function parseSource(source: WorkflowSource): ParsedSource {
  if (typeof source !== 'string') {
    if (source === null || typeof source !== 'object' || Array.isArray(source)) {
      throw new YunbianError(
        'BAD_REQUEST',
        `a workflow is a definition object, its YAML/JSON text or a stored workflow's name (got ${source === null ? 'null' : Array.isArray(source) ? 'an array' : typeof source})`,
      );
    }
    return { kind: 'definition', raw: source };
  }
  const text = source.trim();
  if (NAME.test(text)) return { kind: 'name', name: text };
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new YunbianError('BAD_REQUEST', `definition is not valid YAML/JSON: ${(err as Error).message}`);
  }
  return { kind: 'definition', raw };
}

/** Names of the workflows a definition's steps call (to know their stored versions before validating it). */
export function subWorkflowNames(raw: unknown): string[] {
  const steps = (raw as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps)) return [];
  const names = new Set<string>();
  for (const step of steps) {
    const ref = (step as { workflow?: unknown } | null)?.workflow;
    if (typeof ref === 'string') names.add(parseRef(ref).name);
  }
  return [...names];
}
