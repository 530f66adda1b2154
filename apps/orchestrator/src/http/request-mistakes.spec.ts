import { WorkflowsController } from '../workflows/workflows.controller';
import { RUN_BODY } from '../workflows/workflows.schemas';
import { BODY_TYPES, YAML_ROUTES, YAML_TYPES } from './request-guards';
import {
  malformedJsonMessage,
  missingBodyMessage,
  RUN_BODY_KEYS,
  routeMatches,
  runBodyProblem,
  wrongTypeMessage,
} from './request-mistakes';

describe('wrongTypeMessage', () => {
  it('names the header to send, and what curl -d sends without one', () => {
    expect(wrongTypeMessage('application/x-www-form-urlencoded', ['application/json'])).toBe(
      `this route reads a body of Content-Type application/json; got "application/x-www-form-urlencoded" (what curl -d sends without a content-type header): send -H 'content-type: application/json'`,
    );
    expect(wrongTypeMessage('', ['application/json', ...YAML_TYPES])).toContain(
      `got no Content-Type: send -H 'content-type: application/json' (or -H 'content-type: application/yaml' for YAML)`,
    );
  });
});

describe('missingBodyMessage', () => {
  it('says how to send a body', () => {
    expect(missingBodyMessage()).toMatch(
      /reads a JSON body and the request had none: send one with -H 'content-type: application\/json' -d/,
    );
    expect(missingBodyMessage(true)).toMatch(
      /JSON or YAML body .*; YAML: -H 'content-type: application\/yaml' --data-binary @file.yaml\)$/,
    );
  });
});

describe('malformedJsonMessage', () => {
  const yaml = 'name: edge-report\nsteps:\n  - id: a\n    service: echo@1\n';
  let parserMessage = '';
  try {
    JSON.parse(yaml);
  } catch (err) {
    parserMessage = (err as Error).message;
  }

  it('recognises YAML sent as JSON and says which Content-Type to use where YAML is read', () => {
    expect(malformedJsonMessage(parserMessage, yaml, true)).toMatch(
      /^the body is YAML, not JSON \(.+\), but says Content-Type application\/json: send it with -H 'content-type: application\/yaml'/,
    );
    expect(malformedJsonMessage(parserMessage, yaml, false)).toMatch(
      /reads as YAML, which this route does not take: convert it to JSON/,
    );
  });

  it('keeps the parser message for a body that is neither', () => {
    expect(malformedJsonMessage('Unexpected token', '{"a": 1,', true)).toBe(
      'the body is not valid JSON: Unexpected token',
    );
    expect(malformedJsonMessage('Unexpected end', '  ', false)).toMatch(/it is empty/);
    // A scalar reads as YAML too, but is no document anyone meant.
    expect(malformedJsonMessage('Unexpected token', 'hello', true)).toBe(
      'the body is not valid JSON: Unexpected token',
    );
  });
});

describe('routeMatches', () => {
  it('matches Express patterns by method and segments', () => {
    expect(routeMatches('POST /workflows/:name/runs', 'post', '/workflows/ocr/runs')).toBe(true);
    expect(routeMatches('POST /workflows/:name/runs', 'POST', '/workflows/ocr/runs/')).toBe(true);
    expect(routeMatches('POST /workflows/:name/runs', 'POST', '/workflows//runs')).toBe(false);
    expect(routeMatches('POST /workflows', 'POST', '/workflows/ocr')).toBe(false);
    expect(routeMatches('POST /workflows', 'PUT', '/workflows')).toBe(false);
  });

  it('YAML_ROUTES are the routes whose handlers accept YAML bodies', () => {
    const proto = WorkflowsController.prototype as unknown as Record<string, () => unknown>;
    const yamlHandlers = Object.getOwnPropertyNames(proto).filter((name) =>
      ((Reflect.getMetadata(BODY_TYPES, proto[name]) as string[] | undefined) ?? []).some((t) => t.includes('yaml')),
    );
    expect(yamlHandlers.sort()).toEqual(['create', 'run', 'validate']);
    expect([...YAML_ROUTES]).toEqual(['POST /workflows', 'POST /workflows/validate', 'POST /workflows/:name/runs']);
  });
});

describe('runBodyProblem', () => {
  const schema = { type: 'object', required: ['image', 'readings'] };

  it('accepts a wrapped input and the other keys the route reads', () => {
    expect(
      runBodyProblem({ input: { image: 'x', readings: [] }, version: 2, engine: 'cloud' }, 'r', schema),
    ).toBeUndefined();
    expect(runBodyProblem({}, 'r', undefined)).toBeUndefined();
    expect(runBodyProblem({ version: 1 }, 'r', { required: [] })).toBeUndefined();
  });

  it('recognises the run input sent without its wrapper and shows the wrapped body', () => {
    expect(runBodyProblem({ image: 'iVBOR', readings: [] }, 'edge-report', schema)).toBe(
      'the body of a run is { "input": …, "version"?, "durability"?, "origin"?, "dataTier"?, "engine"? }; this one has "image", "readings" and no "input": is it the run input? Wrap it: {"input": {"image":"iVBOR","readings":[]}}',
    );
  });

  it('names keys beside input that are not read', () => {
    expect(runBodyProblem({ input: {}, wait: 5000 }, 'r', undefined)).toMatch(
      /"wait" is not read; move it into "input" or drop it$/,
    );
  });

  it('says what the input needs when there is none', () => {
    expect(runBodyProblem({}, 'edge-report', schema)).toBe(
      `the body has no "input", and workflow edge-report's input needs "image", "readings": send {"input": {"image": …, "readings": …}}`,
    );
  });

  it('knows the keys the OpenAPI document gives the body', () => {
    expect(Object.keys(RUN_BODY.properties ?? {})).toEqual([...RUN_BODY_KEYS]);
  });
});
