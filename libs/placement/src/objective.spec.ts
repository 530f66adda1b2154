import { OBJECTIVE_FORMS, OBJECTIVE_NAMES } from '@yunbian/contracts';
import { validateDefinition } from '@yunbian/workflow';
import { PlacementInputError } from './errors';
import { parseObjective, resolveObjective } from './objective';

/** Every form README.md, docs/workflows.md, docs/placement.md and the workflow schema document. */
const DOCUMENTED: [string, unknown][] = [
  ['latency', 'latency'],
  ['cost', 'cost'],
  ['balanced', { latency: 0.5, cost: 0.5 }],
  ['mix', { latency: 0.5, cost: 0.5 }],
  ['cost-slo', 'cost'],
  ['latency:0.7', { latency: 0.7, cost: expect.closeTo(0.3, 10) }],
  ['latency:0', { latency: 0, cost: 1 }],
  ['latency:1', { latency: 1, cost: 0 }],
  ['latency:1.0', { latency: 1, cost: 0 }],
  ['latency:0.25', { latency: 0.25, cost: 0.75 }],
];

const REFUSED = [
  '',
  'fast',
  'Latency',
  ' cost',
  'cost ',
  'latency:',
  'latency:1.5',
  'latency:-0.2',
  'latency:.5',
  'latency:0.7x',
  'cost:0.3',
  'latency:0.7:cost',
  'balanced|fast',
];

/** Whether the workflow schema (POST /workflows) accepts `objective` on a step and on the workflow. */
function workflowAccepts(objective: string): boolean {
  const context = { serviceVersions: () => ['1.0.0'], workflowVersions: () => [] };
  const onStep = validateDefinition(
    { name: 'w', steps: [{ id: 'a', service: 'echo', placement: { objective } }] },
    context,
  );
  const onWorkflow = validateDefinition(
    { name: 'w', placement: { objective }, steps: [{ id: 'a', service: 'echo' }] },
    context,
  );
  expect(onStep.issues.length === 0).toBe(onWorkflow.issues.length === 0);
  return onStep.issues.length === 0;
}

describe('parseObjective', () => {
  it.each(DOCUMENTED)('parses the documented form %s', (text, expected) => {
    const objective = parseObjective(text);
    expect(objective).toEqual(expected);
    // …and placement runs with it.
    expect(() => resolveObjective({ objective })).not.toThrow();
  });

  it('gives every name of the vocabulary a meaning', () => {
    for (const name of OBJECTIVE_NAMES) expect(parseObjective(name)).toBeDefined();
  });

  it('leaves an absent objective to the caller’s default', () => {
    expect(parseObjective(undefined)).toBeUndefined();
  });

  it.each(REFUSED)('refuses %j, naming the field and the accepted forms', (text) => {
    let error: unknown;
    try {
      parseObjective(text, '/steps/0/placement/objective');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PlacementInputError);
    expect((error as PlacementInputError).message).toContain(OBJECTIVE_FORMS);
    expect((error as PlacementInputError).details).toEqual({
      pointer: '/steps/0/placement/objective',
      accepted: OBJECTIVE_FORMS,
    });
  });
});

describe('the workflow schema and the grammar', () => {
  it.each([...DOCUMENTED.map(([text]) => text), ...REFUSED])(
    'agree on %j: accepted at validation exactly when it parses',
    (text) => {
      let parses = true;
      try {
        parseObjective(text);
      } catch {
        parses = false;
      }
      expect(workflowAccepts(text)).toBe(parses);
    },
  );

  it('says at validation where the bad objective is and what is accepted', () => {
    const { issues } = validateDefinition(
      { name: 'w', steps: [{ id: 'a', service: 'echo', placement: { objective: 'fast' } }] },
      { serviceVersions: () => ['1.0.0'], workflowVersions: () => [] },
    );
    expect(issues).toEqual([
      { pointer: '/steps/0/placement/objective', message: `must be one of ${OBJECTIVE_FORMS} (got "fast")` },
    ]);
  });
});
