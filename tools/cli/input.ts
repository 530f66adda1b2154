import YAML from 'yaml';
import { CliError } from './cli-error';
import { locatePointer } from './source-position';

/** A value given on the command line: its parsed value, the text it was parsed from, and where that text is. */
export interface GivenValue {
  value: unknown;
  text: string;
  /** The file name for `@file`, `the --input argument` for inline text. */
  source: string;
  /** Whether the text came from a file (so positions in it are worth printing). */
  fromFile: boolean;
}

/**
 * `--input @file.json`, `--input @-` (standard input) or `--input '{"a": 1}'`. A file may be
 * JSON or YAML (`.yaml`/`.yml`); inline text must be JSON. `option` names the flag in errors.
 */
export function parseGivenValue(raw: string, option: string, readFile: (file: string) => string): GivenValue {
  if (raw.startsWith('@')) {
    const file = raw.slice(1);
    if (!file)
      throw new CliError(`${option} @: give a file after @ (e.g. ${option} @input.json), or @- for standard input`);
    let text: string;
    try {
      text = readFile(file === '-' ? '/dev/stdin' : file);
    } catch (err) {
      throw new CliError(
        `${option} ${raw}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const source = file === '-' ? 'standard input' : file;
    return { value: parseText(text, source, /\.ya?ml$/i.test(file)), text, source, fromFile: true };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new CliError(
      `${option}: not JSON (${(err as Error).message}); give JSON in quotes (${option} '{"a": 1}') or a file as ${option} @file.json`,
    );
  }
  return { value, text: raw, source: `the ${option} argument`, fromFile: false };
}

/** JSON, or YAML when `yaml` (a YAML error carries its line and column). */
export function parseText(text: string, source: string, yaml: boolean): unknown {
  if (!yaml) {
    try {
      return JSON.parse(text);
    } catch (err) {
      // JSON.parse names an offset at most; a line and column are what an editor jumps to.
      const offset = /at position (\d+)/.exec((err as Error).message)?.[1];
      const where =
        offset !== undefined ? lineAndColumn(text, Number(offset)) : YAML.parseDocument(text).errors[0]?.linePos?.[0];
      throw new CliError(
        `${source}${where ? `:${where.line}:${where.col}` : ''}: not valid JSON (${(err as Error).message})`,
      );
    }
  }
  const doc = YAML.parseDocument(text);
  if (doc.errors.length) {
    const e = doc.errors[0];
    const where = e.linePos?.[0];
    throw new CliError(
      `${source}${where ? `:${where.line}:${where.col}` : ''}: not valid YAML (${e.message.split('\n')[0]})`,
    );
  }
  return doc.toJS();
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/** One problem the server found, as `details.issues` lists them. */
export interface Issue {
  pointer: string;
  message: string;
}

/** `details.issues` of an error body, when it has well-formed ones. */
export function issuesOf(details: unknown): Issue[] {
  const issues = (details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return [];
  return issues.filter(
    (i): i is Issue =>
      typeof i === 'object' && i !== null && typeof i.pointer === 'string' && typeof i.message === 'string',
  );
}

/**
 * The server's problems as `file:line:col  pointer  message`, located in the text the user
 * wrote; a pointer to something missing names where its nearest existing parent is.
 */
export function issueLines(issues: Issue[], given: Pick<GivenValue, 'text' | 'source' | 'fromFile'>): string[] {
  return issues.map((issue) => {
    const position = locatePointer(given.text, issue.pointer);
    const pointer = issue.pointer || '/';
    if (!position) return `  ${pointer}: ${issue.message}`;
    const where = given.fromFile ? `${given.source}:${position.line}:${position.col}` : `col ${position.col}`;
    const near = position.found === issue.pointer ? '' : ` (nearest: ${position.found || '/'})`;
    return `  ${where}  ${pointer}${near}: ${issue.message}`;
  });
}
