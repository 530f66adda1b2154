/** A step as the graph needs it: its id, its explicit `after`, and whatever else it holds (mappings). */
export interface GraphStep {
  id: string;
  after?: readonly string[];
}

/**
 * The steps a step waits for: its `after`, and every `$steps.<id>` its mappings, conditions
 * and forEach name (as the engine derives them; only ids of the definition count).
 */
export function dependenciesOf<T extends GraphStep>(step: T, ids: ReadonlySet<string>): string[] {
  const { id: _id, after = [], ...rest } = step;
  const referenced = [...JSON.stringify(rest).matchAll(/\$steps\.([A-Za-z0-9_-]+)/g)].map((m) => m[1]);
  return [...new Set([...after, ...referenced])].filter((d) => ids.has(d) && d !== step.id);
}

/**
 * Steps in columns: each step one column right of the furthest step it depends on (roots
 * in the first). Unknown dependencies are ignored here (validation reports them); a cycle
 * puts its steps where the walk found them rather than looping.
 */
export function columnsOf<T extends GraphStep>(steps: readonly T[]): string[][] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const ids = new Set(byId.keys());
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  const levelOf = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const step = byId.get(id);
    const deps = step ? dependenciesOf(step, ids) : [];
    const value = deps.length ? Math.max(...deps.map(levelOf)) + 1 : 0;
    visiting.delete(id);
    level.set(id, value);
    return value;
  };
  const columns: string[][] = [];
  for (const step of steps) (columns[levelOf(step.id)] ??= []).push(step.id);
  return columns.filter(Boolean);
}
