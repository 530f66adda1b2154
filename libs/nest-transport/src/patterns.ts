import semver from 'semver';
import { YunbianError, ErrorCodes, type ErrorCode } from '@yunbian/contracts';
import { operationServiceName } from './options';

/** The prefix of a client pattern that starts a workflow run: `workflow:<name>` (or `workflow:<name>@<version>`). */
export const WORKFLOW_PATTERN_PREFIX = 'workflow:';

/** What a `client.send(pattern, …)` addresses. */
export type ClientTarget =
  | { kind: 'workflow'; workflow: string; version?: number }
  /** `range`: a semver range or exact version; `*` when the pattern named none. */
  | { kind: 'service'; service: string; range: string };

const NAME = /^[A-Za-z0-9_-]{1,128}$/;
const ACCEPTED =
  'accepted: "workflow:<name>" or "workflow:<name>@<version>", "<service>@<range>" or "<service>" (the newest version), "<app>.<pattern>" for a NestJS app\'s operation (optionally with "@<range>")';

/**
 * Reads a client pattern (as Nest normalised it). `app.pattern` names the operation a
 * `YunbianServer` serves for `@MessagePattern(pattern)` of the app `app` (the catalogue's
 * service `app-pattern`).
 */
export function parseClientPattern(pattern: string): ClientTarget {
  if (typeof pattern !== 'string' || pattern === '')
    throw new YunbianError('BAD_REQUEST', `pattern ${JSON.stringify(pattern)} is not a string; ${ACCEPTED}`);
  if (pattern.startsWith(WORKFLOW_PATTERN_PREFIX)) {
    const rest = pattern.slice(WORKFLOW_PATTERN_PREFIX.length);
    const [workflow, version, extra] = rest.split('@');
    if (!NAME.test(workflow) || extra !== undefined)
      throw new YunbianError('BAD_REQUEST', `pattern "${pattern}" names no workflow; ${ACCEPTED}`);
    if (version === undefined) return { kind: 'workflow', workflow };
    if (!/^[1-9][0-9]*$/.test(version))
      throw new YunbianError(
        'BAD_REQUEST',
        `pattern "${pattern}": a workflow version is a positive integer (got "${version}")`,
      );
    return { kind: 'workflow', workflow, version: Number(version) };
  }
  const at = pattern.indexOf('@');
  const name = at < 0 ? pattern : pattern.slice(0, at);
  const range = at < 0 ? '*' : pattern.slice(at + 1);
  if (semver.validRange(range) === null)
    throw new YunbianError(
      'BAD_REQUEST',
      `pattern "${pattern}": "${range}" is not a semver range or version; ${ACCEPTED}`,
    );
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p)))
    throw new YunbianError('BAD_REQUEST', `pattern "${pattern}" names no service; ${ACCEPTED}`);
  const service = parts.length === 2 ? operationServiceName(parts[0], parts[1]) : name;
  return { kind: 'service', service, range };
}

/**
 * The version a call goes to: the newest of `versions` satisfying `range`, among those with a
 * ready instance when any has one (a newer version nobody serves yet would only fail).
 */
export function chooseServiceVersion(
  versions: { version: string; readyInstances: number }[],
  range: string,
): string | undefined {
  const served = versions.filter((v) => v.readyInstances > 0).map((v) => v.version);
  return (
    semver.maxSatisfying(served, range) ??
    semver.maxSatisfying(
      versions.map((v) => v.version),
      range,
    ) ??
    undefined
  );
}

const isCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && (ErrorCodes as readonly string[]).includes(value);

/**
 * What a failed Nest handler answers its caller. Nest's RPC exception filter turns a thrown
 * `RpcException(x)` into `x` (an object) or `{ status: 'error', message: x }` (a string), and
 * anything else into `{ status: 'error', message: 'Internal server error' }`. An object with
 * a Yunbian error `code` keeps it (so `throw new RpcException({ code: 'BAD_REQUEST', message })`
 * answers BAD_REQUEST); everything else is INTERNAL with its message.
 */
export function errorFromHandler(err: unknown, where: string): YunbianError {
  if (err instanceof YunbianError) return err;
  if (err instanceof Error) return new YunbianError('INTERNAL', `${where}: ${err.message}`);
  if (err !== null && typeof err === 'object') {
    const { code, message, details } = err as { code?: unknown; message?: unknown; details?: unknown };
    const text = typeof message === 'string' ? message : JSON.stringify(err);
    if (isCode(code)) return new YunbianError(code, text, details);
    return new YunbianError('INTERNAL', `${where}: ${text}`, details);
  }
  return new YunbianError('INTERNAL', `${where}: ${String(err)}`);
}
