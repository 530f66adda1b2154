import type { NodeRecord } from '@yunbian/contracts';

/** JSON over HTTP against an orchestrator whose base URL may change (restarts pick a new port). */
export class RestClient {
  api = '';

  async get<T>(route: string): Promise<T> {
    const response = await fetch(`${this.api}${route}`);
    if (!response.ok) throw new Error(`GET ${route}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async call(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.api}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async node(id: string): Promise<NodeRecord | undefined> {
    return (await this.get<NodeRecord[]>('/nodes')).find((n) => n.id === id);
  }
}
