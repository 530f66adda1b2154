import type { StepDefinition, WorkflowDefinition } from './definition';
import { mappingExpressions, stepReferences, type LocatedExpression } from './mapping';

/** Every expression of a step with its pointer (relative to the definition). */
export function stepExpressions(step: StepDefinition, index: number): LocatedExpression[] {
  const at = `/steps/${index}`;
  const found = mappingExpressions(step.input, `${at}/input`);
  if (step.when) found.push({ pointer: `${at}/when`, text: step.when });
  if (step.forEach) found.push({ pointer: `${at}/forEach/items`, text: step.forEach.items });
  if (step.escalate) {
    found.push({ pointer: `${at}/escalate/when`, text: step.escalate.when });
    found.push(...mappingExpressions(step.escalate.input, `${at}/escalate/input`));
  }
  if (step.onError && typeof step.onError === 'object') {
    found.push(...mappingExpressions(step.onError.fallback.input, `${at}/onError/fallback/input`));
  }
  return found;
}

/** Dependencies of each step: explicit `after` plus every `$steps.<id>` its expressions read. */
export function dependencies(definition: WorkflowDefinition): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  definition.steps.forEach((step, i) => {
    const set = new Set(step.after ?? []);
    for (const e of stepExpressions(step, i)) {
      for (const ref of stepReferences(e.text)) if (ref !== '*' && ref !== step.id) set.add(ref);
    }
    deps.set(step.id, [...set]);
  });
  return deps;
}

/** A cycle in the dependency graph as a list of ids (first repeated at the end), if any. */
export function findCycle(deps: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const dep of deps.get(id) ?? []) {
      if (!deps.has(dep)) continue;
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of deps.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
