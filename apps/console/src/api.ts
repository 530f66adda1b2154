import { errorText } from './format';
import { splitSse, type SseEvent } from './sse';

const KEY = 'yunbian.apiKey';

/** The API key of this tab (sessionStorage: gone when the tab closes). */
export const credentials = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer of the API that was not 2xx, with its body (`{ code, message, details }`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(errorText(status, body));
  }
}

/** Called when the API refuses the key (401): the app goes back to the login form. */
let onUnauthenticated: () => void = () => undefined;
export const whenUnauthenticated = (handler: () => void) => (onUnauthenticated = handler);

/**
 * One call of the REST API with the tab's key as `Authorization: Bearer`. `body` is sent
 * as JSON, or as is when `contentType` is given (YAML text).
 */
export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  options: { contentType?: string; key?: string } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = options.key ?? credentials.get();
  if (key) headers.authorization = `Bearer ${key}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    payload = options.contentType ? String(body) : JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: kept as text.
  }
  if (response.status === 401 && !options.key) onUnauthenticated();
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed as T;
}

/**
 * Follows a text/event-stream route with the tab's key (a browser `EventSource` cannot send an
 * `Authorization` header, so this reads the stream through `fetch`): `onEvent` gets each event
 * until the stream ends (resolves) or fails (rejects; 401 sends the app back to the login form).
 */
export async function followEvents(
  path: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  const key = credentials.get();
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(path, { headers, signal });
  if (response.status === 401) onUnauthenticated();
  if (!response.ok || !response.body) {
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: kept as text.
    }
    throw new ApiError(response.status, parsed);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const { events, rest } = splitSse(buffer + value);
    buffer = rest;
    for (const event of events) onEvent(event);
  }
}
