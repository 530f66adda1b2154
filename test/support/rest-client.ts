import { bearer } from '@yunbian/common';
import type { NodeRecord } from '@yunbian/contracts';

/**
 * `fetch` of `route` on the orchestrator at `base` with `key` as `Authorization: Bearer …`.
 * `init.headers` may override `authorization` (another credential) or drop it with `{ authorization: '' }`.
 */
export function restFetch(base: string, route: string, key: string, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { ...bearer(key), ...(init.headers as Record<string, string>) };
  if (headers.authorization === '') delete headers.authorization;
  return fetch(`${base}${route}`, { ...init, headers });
}

/**
 * One JSON call to an orchestrator at `base` (a cloud or site engine) with `key`: the status
 * and the parsed body (undefined when empty), bounded by `timeoutMs`.
 */
export async function restCall<T>(
  base: string,
  key: string,
  method: string,
  route: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<{ status: number; body: T }> {
  const response = await restFetch(base, route, key, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * JSON over HTTP against an orchestrator whose base URL may change (restarts pick a new port),
 * with the cluster's admin key (`key`) on every request unless a request says otherwise.
 */
export class RestClient {
  api = '';
  /** The credential sent as `Authorization: Bearer …` ('' sends none). */
  key = '';

  /** `fetch` of a route of the orchestrator (`/runs/…`) with the key (see restFetch). */
  fetch(route: string, init: RequestInit = {}): Promise<Response> {
    return restFetch(this.api, route, this.key, init);
  }

  async get<T>(route: string): Promise<T> {
    const response = await this.fetch(route);
    if (!response.ok) throw new Error(`GET ${route}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async call(
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await this.fetch(route, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  async node(id: string): Promise<NodeRecord | undefined> {
    return (await this.get<NodeRecord[]>('/nodes')).find((n) => n.id === id);
  }
}
