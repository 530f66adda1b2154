import { fork } from 'node:child_process';
import path from 'node:path';
import type { ModelValueInfo } from '@yunbian/models';
import { YunbianError } from '@yunbian/transport';
import type { InspectReply } from './onnx-inspect.process';

export interface InspectLimits {
  timeoutMs: number;
  /** V8 heap cap of the child (`--max-old-space-size`); onnxruntime's native memory is not covered by it. */
  maxOldSpaceMb: number;
}

const INSPECT_SCRIPT = path.join(__dirname, 'onnx-inspect.process.js');

/**
 * Reads the inputs and outputs of an ONNX file by loading it with onnxruntime-node in a
 * forked process. A file onnxruntime refuses is a 400 with onnxruntime's message (the
 * temp path replaced by `<upload>`); a crash is a 400 too; a timeout is a 504.
 */
export function inspectOnnxModel(
  file: string,
  label: string,
  limits: InspectLimits,
  script = INSPECT_SCRIPT,
): Promise<{ inputs: ModelValueInfo[]; outputs: ModelValueInfo[] }> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [file], {
      execArgv: [`--max-old-space-size=${limits.maxOldSpaceMb}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Tracing and the like are for the orchestrator, not for this short-lived helper.
      env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
    });
    let reply: InspectReply | undefined;
    let stderr = '';
    let timedOut = false;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString();
    });
    child.on('message', (message: InspectReply) => {
      reply = message;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new YunbianError('INTERNAL', `could not start the ONNX inspector: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (reply?.ok) return resolve({ inputs: reply.inputs, outputs: reply.outputs });
      if (reply) {
        const message = reply.error.split(file).join('<upload>'); // the temp path means nothing to the caller
        return reject(
          new YunbianError('BAD_REQUEST', `${label} is not a model onnxruntime can load: ${message}`, {
            onnxruntime: message,
          }),
        );
      }
      if (timedOut) {
        return reject(
          new YunbianError('TIMEOUT', `loading ${label} with onnxruntime took longer than ${limits.timeoutMs} ms`),
        );
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(
        new YunbianError(
          'BAD_REQUEST',
          `${label} is not a model onnxruntime can load: the inspector process ${how} (heap cap ${limits.maxOldSpaceMb} MB)${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`,
        ),
      );
    });
  });
}
