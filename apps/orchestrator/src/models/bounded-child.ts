import { fork } from 'node:child_process';
import { processMemory } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';

export interface BoundedChildOptions {
  args?: string[];
  execArgv?: string[];
  /** Sent once the child is started (its request), when given. */
  message?: unknown;
  timeoutMs: number;
  /** Resident memory (MiB, native memory included) past which the child is killed. */
  maxMemoryMb: number;
  /** How often its memory is read (ms). */
  memoryPollMs: number;
  /** What the child is, for the error when it cannot be started ("the ONNX inspector"). */
  what: string;
}

/** How a bounded child ended: its reply (the last IPC message), or why there was none. */
export interface BoundedChildOutcome<T> {
  reply?: T;
  /** It went past `maxMemoryMb` and was killed. */
  overBound: boolean;
  /** Largest resident memory seen (MiB). */
  peakMb: number;
  /** It ran past `timeoutMs` and was killed. */
  timedOut: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The start of its stderr (4,000 characters at most). */
  stderr: string;
}

/**
 * Runs `script` in a fresh child process with no environment beyond PATH (one onnxruntime
 * thread), killed past the time or memory bound (memory read through /proc), and reports how it
 * ended; the caller turns that into its own errors. Rejects only when the child cannot start.
 */
export function runBoundedChild<T>(script: string, options: BoundedChildOptions): Promise<BoundedChildOutcome<T>> {
  return new Promise((resolve, reject) => {
    const child = fork(script, options.args ?? [], {
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Tracing and the like are for the orchestrator, not for this short-lived helper.
      env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
    });
    const outcome: BoundedChildOutcome<T> = {
      overBound: false,
      peakMb: 0,
      timedOut: false,
      code: null,
      signal: null,
      stderr: '',
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      if (outcome.stderr.length < 4000) outcome.stderr += chunk.toString();
    });
    child.on('message', (message: T) => {
      outcome.reply = message;
    });
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    const watch = setInterval(() => {
      const memory = processMemory(child.pid);
      if (!memory) return;
      outcome.peakMb = Math.max(outcome.peakMb, memory.peakMb);
      if (memory.peakMb > options.maxMemoryMb && !outcome.overBound) {
        outcome.overBound = true;
        child.kill('SIGKILL');
      }
    }, options.memoryPollMs);
    const done = () => {
      clearTimeout(timer);
      clearInterval(watch);
    };
    child.on('error', (err) => {
      done();
      reject(new YunbianError('INTERNAL', `could not start ${options.what}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      done();
      outcome.code = code;
      outcome.signal = signal;
      resolve(outcome);
    });
    if (options.message !== undefined) child.send(options.message as never);
  });
}
