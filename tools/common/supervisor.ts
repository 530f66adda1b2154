/**
 * Child processes of a local stack (`npm start`, the testbed): each started with its log
 * file, watched, and restarted after a backoff when it dies, so one dead agent never takes
 * the stack down. Stopping is explicit: `stop` and `stopAll` end processes without restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { backoffDelay } from '@yunbian/common';

export interface ProcessSpec {
  /** Unique within the supervisor; used in messages and as the default log file name. */
  name: string;
  /** Executable, e.g. `process.execPath` or `ip` (for `ip netns exec <ns> node …`). */
  command: string;
  args: string[];
  /** Merged over the supervisor's base environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here (default `<logDir>/<name>.log`). */
  logFile?: string;
  /** Restart after an unexpected exit (default true). */
  restart?: boolean;
  /** Copy stderr lines to the supervisor's stderr, prefixed with the name (default true). */
  echoStderr?: boolean;
}

export interface ProcessExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the process will be started again, or undefined when it will not. */
  restartInMs?: number;
}

export interface SupervisorOptions {
  logDir: string;
  /** Where exits and restarts are reported (one line each). */
  say: (line: string) => void;
  baseEnv?: NodeJS.ProcessEnv;
  /** First restart delay; doubles up to `maxBackoffMs` (defaults 1 s and 30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A process up this long has its backoff reset (default 30 s). */
  stableAfterMs?: number;
  /** SIGTERM grace before SIGKILL when stopping (default 15 s). */
  stopGraceMs?: number;
  onExit?: (exit: ProcessExit) => void;
}

/** One supervised process: its current child, restarts so far, and whether it is meant to run. */
export class SupervisedProcess {
  child?: ChildProcess;
  restarts = 0;
  /** Consecutive quick failures, for the backoff. */
  attempt = 0;
  startedAt = 0;
  wanted = true;
  restartTimer?: NodeJS.Timeout;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
}

export class ProcessSupervisor {
  private readonly processes = new Map<string, SupervisedProcess>();
  private readonly logs = new Map<string, WriteStream>();
  private closing = false;

  constructor(private readonly options: SupervisorOptions) {
    mkdirSync(options.logDir, { recursive: true });
  }

  start(spec: ProcessSpec): SupervisedProcess {
    if (this.processes.has(spec.name)) throw new Error(`a process named ${spec.name} is already supervised`);
    const supervised = new SupervisedProcess(spec);
    this.processes.set(spec.name, supervised);
    this.spawn(supervised);
    return supervised;
  }

  get(name: string): SupervisedProcess | undefined {
    return this.processes.get(name);
  }

  list(): SupervisedProcess[] {
    return [...this.processes.values()];
  }

  logFileOf(name: string): string {
    return this.processes.get(name)?.spec.logFile ?? path.join(this.options.logDir, `${name}.log`);
  }

  /** Sends a signal to the current child (tests and demos kill agents this way); the supervisor restarts it. */
  kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    const supervised = this.processes.get(name);
    return supervised?.running ? supervised.child!.kill(signal) : false;
  }

  /** Stops one process for good: SIGTERM, SIGKILL after the grace period; no restart. */
  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const supervised = this.processes.get(name);
    if (!supervised) return;
    supervised.wanted = false;
    clearTimeout(supervised.restartTimer);
    const child = supervised.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      const grace = setTimeout(() => child.kill('SIGKILL'), this.options.stopGraceMs ?? 15_000);
      await exited;
      clearTimeout(grace);
    }
    this.processes.delete(name);
    const log = this.logs.get(name);
    this.logs.delete(name);
    await new Promise<void>((resolve) => (log ? log.end(() => resolve()) : resolve()));
  }

  /**
   * Stops everything, group by group in the order given (e.g. agents, then the orchestrator,
   * then NATS); processes in no group stop first.
   */
  async stopAll(order: string[][] = []): Promise<void> {
    this.closing = true;
    const named = new Set(order.flat());
    const rest = [...this.processes.keys()].filter((name) => !named.has(name));
    for (const group of [rest, ...order]) await Promise.all(group.map((name) => this.stop(name)));
  }

  private spawn(supervised: SupervisedProcess): void {
    const { spec } = supervised;
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...(this.options.baseEnv ?? process.env), ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    supervised.child = child;
    supervised.startedAt = Date.now();
    const log = this.log(spec);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    if (spec.echoStderr !== false) {
      child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${spec.name}] ${chunk.toString()}`));
    }
    child.once('error', (err) => {
      // spawn failures (missing executable) arrive here, then as an exit.
      this.options.say(`${spec.name}: ${err.message}`);
    });
    child.once('exit', (code, signal) => this.exited(supervised, child, code, signal));
  }

  private exited(
    supervised: SupervisedProcess,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (supervised.child !== child) return;
    const { spec } = supervised;
    const expected = !supervised.wanted || this.closing;
    const restart = !expected && spec.restart !== false;
    let restartInMs: number | undefined;
    if (restart) {
      const stableAfter = this.options.stableAfterMs ?? 30_000;
      if (Date.now() - supervised.startedAt >= stableAfter) supervised.attempt = 0;
      restartInMs = backoffDelay(
        supervised.attempt++,
        this.options.initialBackoffMs ?? 1_000,
        this.options.maxBackoffMs ?? 30_000,
      );
      supervised.restartTimer = setTimeout(() => {
        if (!supervised.wanted || this.closing) return;
        supervised.restarts++;
        this.options.say(`${spec.name} restarting (restart ${supervised.restarts})`);
        this.spawn(supervised);
      }, restartInMs);
    }
    if (!expected) {
      this.options.say(
        `${spec.name} exited (${signal ?? `code ${code}`})${
          restart ? `; restarting in ${(restartInMs! / 1000).toFixed(1)} s` : '; not restarted'
        } — log: ${this.logFileOf(spec.name)}`,
      );
    }
    this.options.onExit?.({ name: spec.name, code, signal, restartInMs });
  }

  private log(spec: ProcessSpec): WriteStream {
    let log = this.logs.get(spec.name);
    if (!log) {
      log = createWriteStream(spec.logFile ?? path.join(this.options.logDir, `${spec.name}.log`), { flags: 'a' });
      this.logs.set(spec.name, log);
    }
    return log;
  }
}
