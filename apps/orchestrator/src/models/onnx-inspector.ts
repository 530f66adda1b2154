import path from 'node:path';
import type { ModelValueInfo } from '@yunbian/models';
import { YunbianError } from '@yunbian/transport';
import { runBoundedChild } from './bounded-child';
import type { InspectReply } from './onnx-inspect.process';

export interface InspectLimits {
  timeoutMs: number;
  /** V8 heap cap of the child (`--max-old-space-size`); onnxruntime's native memory is not covered by it. */
  maxOldSpaceMb: number;
  /**
   * Bound on the child's resident memory (MiB), native memory included: past it the child
   * is killed and the model refused. Watched through /proc (not enforced where it is absent).
   */
  maxMemoryMb: number;
  /** How often the child's memory is read (default 20 ms; the kernel's peak figure covers the gaps). */
  memoryPollMs?: number;
}

/** The setting that raises `maxMemoryMb`, named in refusals. */
export const INSPECT_MEMORY_SETTING = 'YUNBIAN_MODEL_INSPECT_MEMORY_MB';

const INSPECT_SCRIPT = path.join(__dirname, 'onnx-inspect.process.js');

/**
 * Reads the inputs and outputs of an ONNX file by loading it with onnxruntime-node in a
 * forked process, with the session options nodes use. A file onnxruntime refuses is a 400
 * with onnxruntime's message (the temp path replaced by `<upload>`); a child that grows
 * past `maxMemoryMb` is killed and the model refused with a 400 giving its peak, the bound
 * and the setting; a crash is a 400 too; a timeout is a 504.
 */
export async function inspectOnnxModel(
  file: string,
  label: string,
  limits: InspectLimits,
  script = INSPECT_SCRIPT,
): Promise<{ inputs: ModelValueInfo[]; outputs: ModelValueInfo[]; peakMemoryMb?: number }> {
  const outcome = await runBoundedChild<InspectReply>(script, {
    args: [file],
    execArgv: [`--max-old-space-size=${limits.maxOldSpaceMb}`],
    timeoutMs: limits.timeoutMs,
    maxMemoryMb: limits.maxMemoryMb,
    memoryPollMs: limits.memoryPollMs ?? 20,
    what: 'the ONNX inspector',
  });
  const { reply, peakMb } = outcome;
  if (outcome.overBound) {
    // Rounded up: the process went past the bound, and the figure must say so.
    const peak = Math.ceil(peakMb);
    throw new YunbianError(
      'BAD_REQUEST',
      `${label} was refused: loading it with onnxruntime, with the graph optimisations nodes use, took more than ` +
        `${limits.maxMemoryMb} MB (the inspector process reached ${peak} MB and was stopped there), so every node ` +
        `loading it would need at least as much. A model that really needs this much memory can be registered ` +
        `after raising ${INSPECT_MEMORY_SETTING} on the orchestrator (now ${limits.maxMemoryMb}).`,
      { peakMemoryMb: peak, boundMb: limits.maxMemoryMb, setting: INSPECT_MEMORY_SETTING },
    );
  }
  if (reply?.ok) {
    const peakMemoryMb = Math.round(Math.max(peakMb, reply.peakMemoryMb ?? 0)) || undefined;
    return { inputs: reply.inputs, outputs: reply.outputs, peakMemoryMb };
  }
  if (reply) {
    const message = reply.error.split(file).join('<upload>'); // the temp path means nothing to the caller
    throw new YunbianError('BAD_REQUEST', `${label} is not a model onnxruntime can load: ${message}`, {
      onnxruntime: message,
    });
  }
  if (outcome.timedOut) {
    throw new YunbianError('TIMEOUT', `loading ${label} with onnxruntime took longer than ${limits.timeoutMs} ms`);
  }
  const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
  const { stderr } = outcome;
  throw new YunbianError(
    'BAD_REQUEST',
    `${label} is not a model onnxruntime can load: the inspector process ${how} (heap cap ${limits.maxOldSpaceMb} MB)${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`,
  );
}
