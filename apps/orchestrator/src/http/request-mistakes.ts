import YAML from 'yaml';

/**
 * What the orchestrator answers to the usual mistakes of a hand-written request (curl above
 * all), each saying what to send instead. Pure functions; the guard, the pipe and the error
 * filter call them.
 */

/** The Content-Type curl's `-d` sends when no `-H 'content-type: …'` is given. */
const CURL_DEFAULT_TYPE = 'application/x-www-form-urlencoded';

/** A body of a type the route does not read: the types it reads, and the header to send. */
export function wrongTypeMessage(got: string, accepted: readonly string[]): string {
  const cause = !got
    ? 'got no Content-Type'
    : got === CURL_DEFAULT_TYPE
      ? `got "${got}" (what curl -d sends without a content-type header)`
      : `got "${got}"`;
  const yaml = accepted.find((t) => t.includes('yaml'));
  return `this route reads a body of Content-Type ${accepted.join(' or ')}; ${cause}: send -H 'content-type: ${accepted[0]}'${
    yaml ? ` (or -H 'content-type: ${yaml}' for YAML)` : ''
  }`;
}

/** A JSON route that got no body at all (curl -XPOST without -d, or an empty one); `yaml`: the route reads YAML too. */
export function missingBodyMessage(yaml = false): string {
  return `this route reads a ${yaml ? 'JSON or YAML' : 'JSON'} body and the request had none: send one with -H 'content-type: application/json' -d '{…}' (or --data-binary @file.json${
    yaml ? "; YAML: -H 'content-type: application/yaml' --data-binary @file.yaml" : ''
  })`;
}

/**
 * A body sent as JSON that JSON.parse refused. When it reads as YAML (a mapping or a list),
 * say so: on routes that take YAML, send it as YAML; elsewhere, convert it.
 */
export function malformedJsonMessage(parserMessage: string, raw: unknown, routeTakesYaml: boolean): string {
  if (typeof raw === 'string' && raw.trim() !== '' && readsAsYaml(raw)) {
    return routeTakesYaml
      ? `the body is YAML, not JSON (${parserMessage}), but says Content-Type application/json: send it with -H 'content-type: application/yaml' --data-binary @file.yaml`
      : `the body is not JSON (${parserMessage}); it reads as YAML, which this route does not take: convert it to JSON (yq -o json file.yaml) and send it with -H 'content-type: application/json'`;
  }
  return `the body is not valid JSON: ${parserMessage}${
    typeof raw === 'string' && raw.trim() === ''
      ? ' (it is empty: send a JSON value, or no body and no content-type)'
      : ''
  }`;
}

function readsAsYaml(raw: string): boolean {
  try {
    const parsed: unknown = YAML.parse(raw, { maxAliasCount: 100 });
    return parsed !== null && typeof parsed === 'object';
  } catch {
    return false;
  }
}

/** The keys `POST /workflows/{name}/runs` reads; anything else in the body is a mistake. */
export const RUN_BODY_KEYS = ['input', 'version', 'durability', 'origin', 'dataTier', 'engine'] as const;

/**
 * Why a run body is not `{ "input": …, … }` (undefined when it is): keys the route does not
 * read — most often the run input sent bare, without its wrapper — or no `input` although
 * the workflow's input schema requires fields.
 */
export function runBodyProblem(
  body: Record<string, unknown>,
  workflow: string,
  inputSchema: { required?: unknown } | undefined,
): string | undefined {
  const keys = Object.keys(body);
  const unknown = keys.filter((k) => !(RUN_BODY_KEYS as readonly string[]).includes(k));
  const shape = `{ "input": …, ${RUN_BODY_KEYS.slice(1)
    .map((k) => `"${k}"?`)
    .join(', ')} }`;
  if (unknown.length > 0 && !keys.includes('input')) {
    const bare = JSON.stringify(Object.fromEntries(unknown.map((k) => [k, body[k]])));
    return `the body of a run is ${shape}; this one has ${list(unknown)} and no "input": is it the run input? Wrap it: {"input": ${
      bare.length > 120 ? '{…}' : bare
    }}`;
  }
  if (unknown.length > 0)
    return `the body of a run is ${shape}: ${list(unknown)} ${unknown.length > 1 ? 'are' : 'is'} not read; move ${unknown.length > 1 ? 'them' : 'it'} into "input" or drop ${unknown.length > 1 ? 'them' : 'it'}`;
  const required = Array.isArray(inputSchema?.required) ? (inputSchema.required as unknown[]).map(String) : [];
  if (!keys.includes('input') && required.length > 0)
    return `the body has no "input", and workflow ${workflow}'s input needs ${list(required)}: send {"input": {${required
      .map((k) => `"${k}": …`)
      .join(', ')}}}`;
  return undefined;
}

function list(keys: string[]): string {
  const shown = keys.slice(0, 8).map((k) => `"${k.slice(0, 40)}"`);
  return keys.length > 8 ? `${shown.join(', ')} and ${keys.length - 8} more` : shown.join(', ');
}

/** Whether `METHOD /pattern/:param` (Express form) is the route of a request's method and path. */
export function routeMatches(route: string, method: string, path: string): boolean {
  const [routeMethod, pattern] = route.split(' ');
  if (routeMethod !== method.toUpperCase()) return false;
  const segments = pattern.split('/');
  const parts = path.replace(/\/+$/, '').split('/');
  return (
    segments.length === parts.length && segments.every((s, i) => (s.startsWith(':') ? parts[i] !== '' : s === parts[i]))
  );
}
