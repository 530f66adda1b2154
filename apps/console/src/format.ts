/** `1.2 s`, `340 ms`, `2 min 5 s` between two ISO times (or until `nowMs`). */
export function duration(fromIso: string | undefined, toIso: string | undefined, nowMs: number = Date.now()): string {
  if (!fromIso) return '—';
  const ms = (toIso ? Date.parse(toIso) : nowMs) - Date.parse(fromIso);
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

/** `1.5 MB` of a byte count. */
export function bytes(n: number | undefined): string {
  if (n === undefined) return '—';
  if (n < 1_024) return `${n} B`;
  if (n < 1_048_576) return `${(n / 1_024).toFixed(1)} KB`;
  return `${(n / 1_048_576).toFixed(1)} MB`;
}

/** JSON shown in a page; past `limit` characters cut, saying how much was left out. */
export function preview(value: unknown, limit = 4_000): string {
  if (value === undefined) return '—';
  const text = JSON.stringify(value, null, 2) ?? String(value);
  return text.length <= limit ? text : `${text.slice(0, limit)}\n… (${text.length - limit} more characters)`;
}

/** The hash route (`#/runs/abc`) as its parts: `['runs', 'abc']`; empty for the first page. */
export function routeOf(hash: string): string[] {
  return hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
}

/** The message of an error answer (`{ message }`), else the status line. */
export function errorText(status: number, body: unknown): string {
  const message = (body as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? `${status}: ${message}` : `HTTP ${status}`;
}
