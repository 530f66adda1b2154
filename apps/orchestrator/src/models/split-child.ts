import path from 'node:path';
import { YunbianError } from '@yunbian/transport';
import { runBoundedChild } from './bounded-child';
import type { SplitChildReply, SplitChildRequest } from './split.process';

export interface SplitChildLimits {
  timeoutMs: number;
  /** Resident memory (MiB) past which the child is killed. */
  maxMemoryMb: number;
}

const SCRIPT = path.join(__dirname, 'split.process.js');

/** Runs one request in a fresh child process, killed past the time or memory bound; its errors are 400s/504s naming the model. */
export async function runSplitChild(
  request: SplitChildRequest,
  label: string,
  limits: SplitChildLimits,
): Promise<Exclude<SplitChildReply, { ok: false }>> {
  const outcome = await runBoundedChild<SplitChildReply>(SCRIPT, {
    message: request,
    timeoutMs: limits.timeoutMs,
    maxMemoryMb: limits.maxMemoryMb,
    memoryPollMs: 50,
    what: 'the split process',
  });
  const { reply, stderr } = outcome;
  if (reply?.ok) return reply;
  if (reply) throw new YunbianError('BAD_REQUEST', `${label}: ${reply.error}`);
  if (outcome.overBound)
    throw new YunbianError(
      'BAD_REQUEST',
      `${label}: onnxruntime needed more than ${limits.maxMemoryMb} MB (reached ${Math.ceil(outcome.peakMb)} MB); ` +
        'try a smaller inputShape or raise YUNBIAN_SPLIT_MEMORY_MB',
    );
  if (outcome.timedOut)
    throw new YunbianError(
      'TIMEOUT',
      `${label} took longer than ${limits.timeoutMs} ms; try a smaller inputShape or raise YUNBIAN_SPLIT_TIMEOUT_MS`,
    );
  throw new YunbianError(
    'INTERNAL',
    `${label}: the split process ${outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`}${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`,
  );
}
