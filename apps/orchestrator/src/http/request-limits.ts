import { DOTTED_ID_PATTERN, DOTTED_ID_RULE, IDENTIFIER_PATTERN, IDENTIFIER_RULE } from '@yunbian/contracts';
import { wrongTypeMessage } from './request-mistakes';

const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when the brackets of a JSON text (or a YAML flow collection) nest deeper than `max`,
 * outside double-quoted strings. One pass over the bytes, before any parser recurses into
 * them: 10,000 nested arrays make `JSON.parse` fine but every recursive walk after it
 * (validation, copies, expressions) overflow the stack or run out of memory.
 */
export function nestingExceeds(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (OPEN.has(b)) {
      if (++depth > max) return true;
    } else if (CLOSE.has(b)) depth = Math.max(0, depth - 1);
  }
  return false;
}

/** True when a parsed value (e.g. from YAML block nesting, which has no brackets) nests deeper than `max`; iterative. */
export function valueNestingExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

/** The message of a body refused for its nesting: what was wrong, the limit, the setting. */
export function nestingMessage(max: number): string {
  return `the request body nests arrays/objects deeper than ${max} levels; the limit is ${max} (YUNBIAN_JSON_MAX_DEPTH)`;
}

/** Methods whose requests may carry a body the routes read. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The media type of a Content-Type header, lowercase, without parameters; '' when absent. */
export function mediaType(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return (value ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Why a request's body cannot go to a route that reads `accepted` media types, or undefined
 * when it can. A request without a body (no Content-Length, or 0, and no Transfer-Encoding)
 * always can: the route sees no body. With a body, the Content-Type must be one of them —
 * an XML, form or multipart body on a JSON route is not read as `{}`.
 */
export function contentTypeProblem(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  accepted: readonly string[],
): string | undefined {
  if (!BODY_METHODS.has(method.toUpperCase())) return undefined;
  const length = headers['content-length'];
  const hasBody = headers['transfer-encoding'] !== undefined || (length !== undefined && String(length).trim() !== '0');
  if (!hasBody) return undefined;
  const type = mediaType(headers['content-type']);
  if (accepted.includes(type)) return undefined;
  return wrongTypeMessage(type, accepted);
}

/**
 * Why a path parameter cannot be used (it becomes a subject token or a KV key), or undefined.
 * Names are identifiers; `id` parameters (runs, nodes, instances, plans, jobs) may also be
 * dotted, as the runs triggers start are (`<workflow>.<trigger>.<sequence>`): a dotted node or
 * instance id is simply not found, since neither is ever dotted.
 */
export function routeParamProblem(name: string, value: unknown): string | undefined {
  const [pattern, rule] = name === 'id' ? [DOTTED_ID_PATTERN, DOTTED_ID_RULE] : [IDENTIFIER_PATTERN, IDENTIFIER_RULE];
  if (typeof value === 'string' && pattern.test(value)) return undefined;
  const shown =
    typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value);
  return `path parameter "${name}" ${shown} is not accepted; use ${rule}`;
}
