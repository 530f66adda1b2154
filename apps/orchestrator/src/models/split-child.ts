import { fork } from 'node:child_process';
import path from 'node:path';
import { processMemory } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';
import type { SplitChildReply, SplitChildRequest } from './split.process';

export interface SplitChildLimits {
  timeoutMs: number;
  /** Resident memory (MiB) past which the child is killed. */
  maxMemoryMb: number;
}

const SCRIPT = path.join(__dirname, 'split.process.js');

/** Runs one request in a fresh child process, killed past the time or memory bound; its errors are 400s/504s naming the model. */
export function runSplitChild(
  request: SplitChildRequest,
  label: string,
  limits: SplitChildLimits,
): Promise<Exclude<SplitChildReply, { ok: false }>> {
  return new Promise((resolve, reject) => {
    const child = fork(SCRIPT, [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
    });
    let reply: SplitChildReply | undefined;
    let stderr = '';
    let timedOut = false;
    let overBound = false;
    let peakMb = 0;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString();
    });
    child.on('message', (message: SplitChildReply) => (reply = message));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    const watch = setInterval(() => {
      const memory = processMemory(child.pid);
      if (!memory) return;
      peakMb = Math.max(peakMb, memory.peakMb);
      if (memory.peakMb > limits.maxMemoryMb && !overBound) {
        overBound = true;
        child.kill('SIGKILL');
      }
    }, 50);
    child.on('error', (err) =>
      reject(new YunbianError('INTERNAL', `could not start the split process: ${err.message}`)),
    );
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(watch);
      if (reply?.ok) return resolve(reply);
      if (reply) return reject(new YunbianError('BAD_REQUEST', `${label}: ${reply.error}`));
      if (overBound)
        return reject(
          new YunbianError(
            'BAD_REQUEST',
            `${label}: onnxruntime needed more than ${limits.maxMemoryMb} MB (reached ${Math.ceil(peakMb)} MB); ` +
              'try a smaller inputShape or raise YUNBIAN_SPLIT_MEMORY_MB',
          ),
        );
      if (timedOut)
        return reject(
          new YunbianError(
            'TIMEOUT',
            `${label} took longer than ${limits.timeoutMs} ms; try a smaller inputShape or raise YUNBIAN_SPLIT_TIMEOUT_MS`,
          ),
        );
      reject(
        new YunbianError(
          'INTERNAL',
          `${label}: the split process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`,
        ),
      );
    });
    child.send(request);
  });
}
