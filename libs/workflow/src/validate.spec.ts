import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { validateDefinition, type ValidationContext } from './validate';

const context: ValidationContext = {
  serviceVersions: (name) => ({ echo: ['1.0.0', '1.2.0'], flaky: ['1.0.0'] })[name] ?? [],
  workflowVersions: (name) => (name === 'child' ? [1, 2] : []),
};

const base = {
  name: 'wf',
  steps: [
    { id: 'a', service: 'echo@^1', input: { value: '=$input.x' } },
    { id: 'b', service: 'echo@1.2.0', input: '{ "value": $steps.a.output.value }' },
  ],
};

const issuesOf = (def: unknown) => validateDefinition(def, context).issues;

describe('validateDefinition', () => {
  it('accepts a valid definition', () => {
    expect(issuesOf(base)).toEqual([]);
    expect(validateDefinition(base, context).definition?.name).toBe('wf');
  });

  it('reports schema problems with pointers', () => {
    expect(issuesOf({ name: 'wf', steps: [{ id: 'a' }] })).toEqual(
      expect.arrayContaining([expect.objectContaining({ pointer: '/steps/0' })]),
    );
    expect(issuesOf({ name: 'wf', steps: [{ id: 'a', service: 'echo', retry: { maxAttempts: 0 } }] })).toEqual([
      { pointer: '/steps/0/retry/maxAttempts', message: 'must be >= 1 (got 0)' },
    ]);
  });

  it('accepts a step model as a version, range or alias, and says what is accepted otherwise', () => {
    for (const model of ['digits', 'digits@3', 'digits@^3', 'digits@>=2', 'digits@stable', 'digits@canary']) {
      expect(issuesOf({ name: 'wf', steps: [{ id: 'a', service: 'echo', model }] })).toEqual([]);
    }
    const [bad] = issuesOf({ name: 'wf', steps: [{ id: 'a', service: 'echo', model: 'digits@>=' }] });
    expect(bad.pointer).toBe('/steps/0/model');
    expect(bad.message).toContain('digits@^3');
    expect(issuesOf({ name: 'wf', steps: [{ id: 'a', workflow: 'child', model: 'digits@3' }] })).toEqual([
      {
        pointer: '/steps/0/model',
        message: 'a step naming a model calls a service serving it: add service (e.g. onnx-inference@^1)',
      },
    ]);
  });

  it('names a cycle', () => {
    const def = {
      name: 'wf',
      steps: [
        { id: 'a', service: 'echo', input: '$steps.c.output', after: [] },
        { id: 'b', service: 'echo', after: ['a'] },
        { id: 'c', service: 'echo', input: '$steps.b.output' },
      ],
    };
    expect(issuesOf(def)).toEqual([{ pointer: '/steps/0', message: 'steps a → c → b → a form a cycle' }]);
  });

  it('reports unknown services and versions, duplicate ids and unknown references', () => {
    const def = {
      name: 'wf',
      steps: [
        { id: 'a', service: 'nope@1' },
        { id: 'a', service: 'echo@^2' },
        { id: 'c', service: 'echo', input: '$steps.zz.output', after: ['yy'] },
        { id: 'd', workflow: 'child@3' },
      ],
    };
    expect(issuesOf(def)).toEqual([
      { pointer: '/steps/1/id', message: 'duplicate step id "a" (first at /steps/0)' },
      { pointer: '/steps/0/service', message: 'unknown service "nope": no node in the catalogue offers it' },
      {
        pointer: '/steps/1/service',
        message: 'no catalogued version of echo satisfies "^2" (catalogued: 1.0.0, 1.2.0)',
      },
      { pointer: '/steps/2/after/0', message: 'unknown step "yy"; steps are: a, c, d' },
      { pointer: '/steps/2/input', message: 'references unknown step "zz"; steps are: a, c, d' },
      { pointer: '/steps/3/workflow', message: 'workflow child has no version 3 (stored: 1, 2)' },
    ]);
  });

  it('reports expression syntax errors where they are', () => {
    const def = { name: 'wf', steps: [{ id: 'a', service: 'echo', input: { v: '=$input.(' }, when: '1 +' }] };
    const issues = issuesOf(def);
    expect(issues.map((i) => i.pointer)).toEqual(['/steps/0/input/v', '/steps/0/when']);
    expect(issues[0].message).toMatch(/^invalid expression: .*at character/);
  });

  it('enforces the size and step limits', () => {
    const huge = { ...base, description: 'x'.repeat(300 * 1024) };
    expect(issuesOf(huge)[0].message).toMatch(/definition is \d+ bytes; the limit is 262144/);
    const many = { name: 'wf', steps: Array.from({ length: 501 }, (_, i) => ({ id: `s${i}`, service: 'echo' })) };
    expect(issuesOf(many)).toEqual([{ pointer: '/steps', message: 'must NOT have more than 500 items' }]);
  });
});

describe('validateDefinition: triggers', () => {
  const withTriggers = (triggers: unknown[]) => ({ ...base, triggers });

  it('accepts a subject, a stream and a schedule trigger', () => {
    const def = withTriggers([
      { subject: 'sensors.*.reading', input: { value: '=$trigger.data', from: '=$trigger.subject' } },
      { id: 'orders', stream: 'ORDERS', filter: 'orders.created', concurrency: 8, from: 'all' },
      { schedule: '*/10 * * * * *', timezone: 'Europe/Berlin', site: 'site-a', durability: 'none' },
    ]);
    expect(issuesOf(def)).toEqual([]);
  });

  it('refuses a trigger of no kind or two kinds, and fields of another kind', () => {
    expect(
      issuesOf(
        withTriggers([
          { concurrency: 2 },
          { subject: 'a', stream: 'S' },
          { subject: 'a.b', timezone: 'UTC' },
          { schedule: '* * * * *', filter: 'x' },
        ]),
      ),
    ).toEqual([
      {
        pointer: '/triggers/0',
        message: 'a trigger has exactly one of subject, stream, schedule or samples (got none)',
      },
      {
        pointer: '/triggers/1',
        message: 'a trigger has exactly one of subject, stream, schedule or samples (got subject and stream)',
      },
      { pointer: '/triggers/2/timezone', message: 'only schedule triggers take timezone' },
      { pointer: '/triggers/3/filter', message: 'only stream triggers take filter' },
    ]);
  });

  it('points at bad subjects, stream names, cron expressions, time zones and duplicate ids', () => {
    const issues = issuesOf(
      withTriggers([
        { subject: 'sensors..x' },
        { subject: 'a.b*' },
        { stream: 'MY.STREAM', filter: 'a.>.b' },
        { schedule: '61 * * * *' },
        { schedule: '* * * * *', timezone: 'Mars/Olympus' },
        { id: 'dup', subject: 'a' },
        { id: 'dup', subject: 'b' },
      ]),
    );
    expect(issues.map((i) => i.pointer)).toEqual([
      '/triggers/0/subject',
      '/triggers/1/subject',
      '/triggers/2/stream',
      '/triggers/2/filter',
      '/triggers/3/schedule',
      '/triggers/4/timezone',
      '/triggers/6/id',
    ]);
    expect(issues[0].message).toBe(
      'a subject is dot-separated tokens, none empty (e.g. sensors.*.reading) (got "sensors..x")',
    );
    expect(issues[4].message).toMatch(/^is not a cron expression croner reads \(.*minute.*\); 5 fields/);
    expect(issues[5].message).toBe('unknown time zone "Mars/Olympus" (an IANA name such as Europe/Berlin)');
    expect(issues[6].message).toBe('duplicate trigger id "dup" (first at /triggers/5)');
  });

  it('refuses schema problems and trigger mappings that read steps or do not parse', () => {
    expect(issuesOf(withTriggers([{ subject: 'a', concurrency: 0, id: 'has.dot' }]))).toEqual([
      { pointer: '/triggers/0/id', message: 'must match pattern "^[A-Za-z][A-Za-z0-9_-]{0,63}$" (got "has.dot")' },
      { pointer: '/triggers/0/concurrency', message: 'must be >= 1 (got 0)' },
    ]);
    const issues = issuesOf(
      withTriggers([
        { subject: 'a', input: { v: '=$steps.a.output' } },
        { subject: 'b', input: '$trigger.(' },
      ]),
    );
    expect(issues.map((i) => i.pointer)).toEqual(['/triggers/0/input/v', '/triggers/1/input']);
    expect(issues[0].message).toMatch(/sees \$trigger .*not \$steps/);
    expect(issues[1].message).toMatch(/^invalid expression: /);
  });
});

describe('validateDefinition: tiers', () => {
  const tiered = (tiers: unknown[], extra: Record<string, unknown> = {}) => ({
    name: 'wf',
    steps: [{ id: 'classify', input: '$input', tiers, ...extra }],
  });

  it('accepts tiers with models, placement and hard rules (default threshold)', () => {
    expect(
      issuesOf(
        tiered([
          { service: 'echo@^1', model: 'digits@1', placement: { tier: 'device' } },
          { service: 'echo@^1', model: 'digits@stable', hard: { rule: 'ibt', threshold: 0.4, box: 0.6 } },
          { service: 'echo@^1', model: 'digits@3', placement: { tier: 'cloud' }, output: 'probabilities' },
        ]),
      ),
    ).toEqual([]);
  });

  it('points at every problem of a tier', () => {
    expect(
      issuesOf(
        tiered(
          [
            { service: 'nope@^1', model: 'digits@>=' },
            { service: 'echo@^1', hard: { rule: 'margin', box: 0.5 } },
            { service: 'echo@^1', hard: { threshold: 0.5 } },
          ],
          { model: 'digits@1', escalate: { when: 'true', service: 'echo' } },
        ),
      ).map((i) => i.pointer),
    ).toEqual([
      '/steps/0/escalate',
      '/steps/0/tiers/0/service',
      '/steps/0/tiers/0/model',
      '/steps/0/tiers/1/hard/box',
      '/steps/0/tiers/2/hard',
      '/steps/0/model',
    ]);
    const [last] = issuesOf(tiered([{ service: 'echo' }, { service: 'echo', hard: {} }]));
    expect(last.message).toContain('the last tier (1) answers every sample it gets');
  });

  it('checks the schema of tiers: at least two, known rules, thresholds in 0..1', () => {
    expect(issuesOf(tiered([{ service: 'echo' }]))[0].pointer).toBe('/steps/0/tiers');
    expect(issuesOf(tiered([{ service: 'echo', hard: { rule: 'entropy' } }, { service: 'echo' }]))[0]).toEqual(
      expect.objectContaining({ pointer: '/steps/0/tiers/0/hard/rule' }),
    );
    expect(issuesOf(tiered([{ service: 'echo', hard: { threshold: 2 } }, { service: 'echo' }]))[0]).toEqual({
      pointer: '/steps/0/tiers/0/hard/threshold',
      message: 'must be <= 1 (got 2)',
    });
  });

  it('refuses an expression calling a function JSONata does not have, naming the likely one', () => {
    const def = { name: 'wf', steps: [{ id: 'a', service: 'echo', input: { value: '=$upper($input.x)' } }] };
    const [issue, ...rest] = issuesOf(def);
    expect(rest).toEqual([]);
    expect(issue.pointer).toBe('/steps/0/input/value');
    expect(issue.message).toContain('calls $upper, which is not a JSONata function (did you mean $uppercase?)');
    const suggestion = (call: string) =>
      issuesOf({ ...def, steps: [{ ...def.steps[0], input: { value: `=${call}($input.x)` } }] })[0]?.message.match(
        /did you mean \$(\w+)/,
      )?.[1];
    expect(suggestion('$toUpper')).toBe('uppercase');
    expect(suggestion('$toString')).toBe('string');
    expect(suggestion('$Count')).toBe('count');
    expect(suggestion('$lenght')).toBe('length');
    expect(suggestion('$frobnicate')).toBeUndefined();
    expect(issuesOf({ ...def, steps: [{ ...def.steps[0], input: { value: '=$uppercase($input.x)' } }] })).toEqual([]);
    const trigger = {
      name: 'wf',
      steps: base.steps,
      triggers: [{ id: 't', subject: 'orders.created', input: '$parseJson($trigger.data)' }],
    };
    expect(issuesOf(trigger).map((i) => i.message)).toEqual([expect.stringContaining('calls $parseJson')]);
  });

  it('refuses an input that is not a JSON Schema, such as a step input indented one level too little', () => {
    const [issue, ...rest] = issuesOf({ ...base, input: { value: '=$input.x' } });
    expect(rest).toEqual([]);
    expect(issue.pointer).toBe('/input/value');
    expect(issue.message).toContain('"value" is not a JSON Schema keyword');
    expect(issue.message).toContain('indented one level too little');
    const deep = issuesOf({ ...base, input: { type: 'object', properties: { x: { type: 'string', lenght: 3 } } } });
    expect(deep).toEqual([expect.objectContaining({ pointer: '/input/properties/x/lenght' })]);
    expect(issuesOf({ ...base, input: { type: 'object', properties: { x: { type: 'strin' } } } })).toEqual([
      expect.objectContaining({ pointer: '/input' }),
    ]);
    const schema = { type: 'object', required: ['x'], properties: { x: { type: 'string', example: 'a' } } };
    expect(issuesOf({ ...base, input: schema })).toEqual([]);
  });

  it('accepts the workflows the project ships', () => {
    const root = path.join(__dirname, '../../..');
    const known: ValidationContext = {
      serviceVersions: () => ['1.0.0', '1.5.0', '2.0.0'],
      workflowVersions: () => [1],
    };
    const files = ['workflows', 'docs/examples'].flatMap((dir) =>
      readdirSync(path.join(root, dir))
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => path.join(dir, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const issues = validateDefinition(YAML.parse(readFileSync(path.join(root, file), 'utf8')), known).issues;
      expect({ file, issues: issues.filter((i) => /JSON Schema|JSONata function/.test(i.message)) }).toEqual({
        file,
        issues: [],
      });
    }
  });
});
