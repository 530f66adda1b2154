import type { ValidateFunction } from 'ajv';
import { createAjv, formatIssues, schemaIssues } from '@yunbian/common';
import { YunbianError } from '@yunbian/contracts';
import type { WorkflowDefinition } from './definition';
import { validateDefinition, type ValidationContext } from './validate';

/** JetStream KV bucket of the workflow registry: one key `wf.<name>.<version>` per stored version. */
export const WORKFLOW_BUCKET = 'yb-workflows';

/**
 * A site engine's copy of the registry, in its site's JetStream domain (same keys): what it
 * executes from when it starts while the uplink is cut.
 */
export const SITE_WORKFLOW_BUCKET = 'yb-workflows-site';

/** A stored version of a workflow, as the registry keeps it (and engines outside the orchestrator read it). */
export interface StoredWorkflow {
  name: string;
  version: number;
  hash: string;
  createdAt: string;
  definition: WorkflowDefinition & { version: number };
}

/** The KV key of one stored version. */
export const workflowKey = (name: string, version: number) => `wf.${name}.${version}`;

/**
 * A definition validated as POST /workflows validates it, or the same VALIDATION_FAILED
 * error (every problem with a JSON pointer in `details.issues`).
 */
export function checkDefinition(raw: unknown, context: ValidationContext): WorkflowDefinition {
  const { definition, issues } = validateDefinition(raw, context);
  if (definition) return definition;
  throw new YunbianError(
    'VALIDATION_FAILED',
    `workflow definition is invalid (${issues.length} problem${issues.length > 1 ? 's' : ''})`,
    { issues },
  );
}

/**
 * Checks run input against a workflow's input schema, filling in its defaults (so every
 * engine gives a run the same input). Compiled validators are kept per `name@version`.
 */
export class RunInputValidator {
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv = createAjv({ useDefaults: true });

  check(definition: WorkflowDefinition & { version: number }, input: unknown): void {
    const schema = definition.input;
    if (!schema) return;
    const key = `${definition.name}@${definition.version}`;
    let validate = this.validators.get(key);
    if (!validate) {
      if (this.validators.size >= 1_000) this.validators.clear();
      this.validators.set(key, (validate = this.ajv.compile(schema)));
    }
    if (!validate(input)) {
      const issues = schemaIssues(validate, input);
      throw new YunbianError(
        'VALIDATION_FAILED',
        `run input does not match the input schema of ${key}: ${formatIssues(issues)}`,
        { issues },
      );
    }
  }
}

/** One stored version (the latest when `version` is omitted) of `versions` (ascending), or NOT_FOUND saying what exists. */
export function pickVersion(
  name: string,
  versions: StoredWorkflow[],
  version: number | undefined,
  storedNames: () => string[],
): StoredWorkflow {
  if (versions.length === 0) {
    throw new YunbianError(
      'NOT_FOUND',
      `unknown workflow "${name}"; stored: ${storedNames().sort().join(', ') || 'none'}`,
    );
  }
  if (version === undefined) return versions.at(-1)!;
  const found = versions.find((w) => w.version === version);
  if (!found) {
    throw new YunbianError(
      'NOT_FOUND',
      `workflow ${name} has no version ${version}; stored: ${versions.map((w) => w.version).join(', ')}`,
    );
  }
  return found;
}
