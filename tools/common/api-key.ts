import { bearer, generateApiKey } from '@yunbian/common';
import { ADMIN_KEY_VARIABLE, API_KEY_VARIABLE } from '@yunbian/contracts';

let key: string | undefined;

/**
 * The credential a tool process sends to the orchestrators it talks to, and the bootstrap admin
 * key of those it starts itself: YUNBIAN_API_KEY, else YUNBIAN_ADMIN_KEY, else one generated for
 * this process (or the one `useToolKey` set, e.g. the local stack's saved key).
 */
export function toolKey(): string {
  return (key ??= process.env[API_KEY_VARIABLE] || process.env[ADMIN_KEY_VARIABLE] || generateApiKey().key);
}

export function useToolKey(value: string): void {
  key = value;
}

/** Environment giving an orchestrator the tool's key as its bootstrap admin key. */
export function orchestratorKeyEnv(): NodeJS.ProcessEnv {
  return { [ADMIN_KEY_VARIABLE]: toolKey() };
}

/** `fetch` of an orchestrator URL with `Authorization: Bearer <toolKey()>`. */
export function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: { ...bearer(toolKey()), ...(init.headers as Record<string, string> | undefined) },
  });
}
