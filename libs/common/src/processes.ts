import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Resident memory of a process in MiB from /proc: now (VmRSS) and its peak so far (VmHWM,
 * which the kernel keeps, so a spike between two reads is not missed). Undefined where
 * /proc is absent or the process is gone.
 */
export function processMemory(pid: number | undefined): { rssMb: number; peakMb: number } | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    if (!Number.isFinite(rss) || !Number.isFinite(hwm)) return undefined;
    return { rssMb: rss / 1024, peakMb: hwm / 1024 };
  } catch {
    return undefined;
  }
}

/** Waits for a child to exit; SIGKILL after `graceMs` if a polite signal is ignored. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 15_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Runs a Node.js script; `execArgv` are Node's own flags (a profiler, say). */
export function spawnNode(
  entry: string,
  args: string[],
  options: SpawnOptions & { execArgv?: string[] },
): ChildProcess {
  const { execArgv = [], ...rest } = options;
  return spawn(process.execPath, [...execArgv, entry, ...args], rest);
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
  );
}
