import { bearer } from '@yunbian/common';
import type { ErrorBody } from '@yunbian/contracts';
import { CliError } from './cli-error';
import type { CliConfig } from './config';

/** An error answer of the orchestrator (`{ statusCode, code, message, details? }`). */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly body: Partial<ErrorBody> | undefined,
  ) {
    super(message);
  }
}

/** The line `yb` prints for an error answer: the call, the status, the server's code and message, and what to do. */
export function describeHttpError(
  method: string,
  route: string,
  status: number,
  body: Partial<ErrorBody> | undefined,
  config: Pick<CliConfig, 'server' | 'keyFrom'>,
): string {
  const said = body?.message ? `${body.code ? `${body.code}: ` : ''}${body.message}` : `HTTP ${status}`;
  let hint = '';
  if (status === 401)
    hint = config.keyFrom
      ? ` — the key from ${config.keyFrom} was refused; give another with --key or YUNBIAN_API_KEY`
      : ` — no key was sent; give one with --key, YUNBIAN_API_KEY or the config file (npm start saves its admin key in .yunbian/admin-key)`;
  else if (status === 403)
    hint = ` — the key from ${config.keyFrom ?? '?'} lacks the role or site; ask for one that has it`;
  return `${method} ${config.server}${route}: ${status} ${said}${hint}`;
}

/** JSON over HTTP against one orchestrator, with the CLI's key; every failure becomes a CliError saying what to do. */
export class ApiClient {
  constructor(readonly config: CliConfig) {}

  async fetch(method: string, route: string, init: RequestInit = {}): Promise<Response> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(this.config.key ? bearer(this.config.key) : {}),
      ...(init.headers as Record<string, string> | undefined),
    };
    try {
      return await fetch(`${this.config.server}${route}`, { ...init, method, headers });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach the orchestrator at ${this.config.server} (from ${this.config.serverFrom}: ${cause?.code ?? cause?.message ?? (err as Error).message}) — is \`npm start\` running? Give another server with --server or YUNBIAN_URL`,
      );
    }
  }

  /** A JSON call: the parsed answer, or an ApiError for a status ≥ 400. */
  async call<T>(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = { headers };
    if (body !== undefined) {
      init.body =
        typeof body === 'string' || body instanceof Uint8Array ? (body as RequestInit['body']) : JSON.stringify(body);
      init.headers = { 'content-type': 'application/json', ...headers };
    }
    return this.parse<T>(method, route, await this.fetch(method, route, init));
  }

  get<T>(route: string): Promise<T> {
    return this.call<T>('GET', route);
  }

  async parse<T>(method: string, route: string, response: Response): Promise<T> {
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const body = (parsed ?? { message: text.slice(0, 500) || undefined }) as Partial<ErrorBody>;
      throw new ApiError(describeHttpError(method, route, response.status, body, this.config), response.status, body);
    }
    if (parsed === undefined && text)
      throw new CliError(
        `${method} ${this.config.server}${route}: the answer is not JSON — is this a Yunbian orchestrator?`,
      );
    return parsed as T;
  }
}
