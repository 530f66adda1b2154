import { errorText } from './format';

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
