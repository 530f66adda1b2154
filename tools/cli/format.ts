import YAML from 'yaml';
import { CliError } from './cli-error';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(raw: string): OutputFormat {
  if (!OUTPUT_FORMATS.includes(raw as OutputFormat))
    throw new CliError(`-o ${raw}: the output format is one of ${OUTPUT_FORMATS.join(', ')}`);
  return raw as OutputFormat;
}

/** A column of a table: its heading and how a row shows in it. */
export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Longer cells are cut to this many characters, ending in `…` (free text such as descriptions). */
  max?: number;
}

/** One cell: '-' for nothing, lists joined by commas, numbers as they are. */
export function cell(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.map(cell).join(',') : '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/\s+/g, ' ');
}

/** A plain-text table: upper-case headings, columns padded to their widest cell, two spaces apart. */
export function formatTable<T>(rows: T[], columns: Column<T>[]): string {
  const cut = (text: string, max?: number) => (max && text.length > max ? `${text.slice(0, max - 1)}…` : text);
  const cells = rows.map((row) => columns.map((c) => cut(cell(c.value(row)), c.max)));
  const headers = columns.map((c) => c.header.toUpperCase());
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** What `-o` prints: the table, or the API's own answer as JSON or YAML (all of it, not only the columns). */
export function formatOutput<T>(rows: T[], columns: Column<T>[], format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(rows, null, 2);
  if (format === 'yaml') return YAML.stringify(rows).trimEnd();
  return rows.length ? formatTable(rows, columns) : '(none)';
}

/** Milliseconds between two ISO times as `850ms`, `12.3s`, `4m05s`; undefined without both. */
export function duration(from?: string, to?: string): string | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const s = Math.round(ms / 1_000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** How long ago an ISO time was, coarsely (`5s`, `3m`, `2h`, `4d`), relative to `now`. */
export function age(time: string | undefined, now: number): string | undefined {
  if (!time) return undefined;
  const s = Math.max(0, Math.round((now - Date.parse(time)) / 1_000));
  if (!Number.isFinite(s)) return undefined;
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Bytes as `512B`, `12.5KiB`, `3.2MiB`. */
export function bytes(size: number | undefined): string | undefined {
  if (size === undefined) return undefined;
  if (size < 1_024) return `${size}B`;
  if (size < 1_024 ** 2) return `${(size / 1_024).toFixed(1)}KiB`;
  if (size < 1_024 ** 3) return `${(size / 1_024 ** 2).toFixed(1)}MiB`;
  return `${(size / 1_024 ** 3).toFixed(1)}GiB`;
}
