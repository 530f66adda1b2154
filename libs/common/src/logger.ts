import type { LoggerService } from '@nestjs/common';

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields every line of a process carries (service name, node id…); tracing adds its ids. */
const baseFields: Record<string, unknown> = {};
export function setLogFields(fields: Record<string, unknown>): void {
  Object.assign(baseFields, fields);
}

let extraFields: () => Record<string, unknown> = () => ({});
/** Lets the tracing library add trace_id/span_id to every line. */
export function setLogContextProvider(provider: () => Record<string, unknown>): void {
  extraFields = provider;
}

function threshold(): number {
  const level = (process.env.LOG_LEVEL ?? 'info').toLowerCase() as Level;
  return LEVELS[level] ?? LEVELS.info;
}

/** One JSON object per line on stdout: what log shippers and `jq` expect. */
export class JsonLogger implements LoggerService {
  constructor(private readonly component = 'app') {}

  child(component: string): JsonLogger {
    return new JsonLogger(component);
  }

  private write(level: Level, message: unknown, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < threshold()) return;
    const line = {
      time: new Date().toISOString(),
      level,
      component: this.component,
      ...baseFields,
      ...extraFields(),
      msg: message instanceof Error ? message.message : message,
      ...fields,
    };
    process.stdout.write(JSON.stringify(line) + '\n');
  }

  debug(message: unknown, fields?: Record<string, unknown> | string): void {
    this.write('debug', message, asFields(fields));
  }
  info(message: unknown, fields?: Record<string, unknown> | string): void {
    this.write('info', message, asFields(fields));
  }
  warn(message: unknown, fields?: Record<string, unknown> | string): void {
    this.write('warn', message, asFields(fields));
  }
  error(message: unknown, fields?: Record<string, unknown> | string, context?: string): void {
    const f = asFields(fields) ?? {};
    if (context) f.context = context;
    this.write('error', message, f);
  }

  // LoggerService: Nest passes its context name as the last string argument.
  log(message: unknown, context?: string): void {
    this.write('info', message, context ? { context } : undefined);
  }
  verbose(message: unknown, context?: string): void {
    this.write('debug', message, context ? { context } : undefined);
  }
  fatal(message: unknown, context?: string): void {
    this.write('error', message, context ? { context, fatal: true } : { fatal: true });
  }
}

function asFields(fields: Record<string, unknown> | string | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  return typeof fields === 'string' ? { context: fields } : { ...fields };
}
