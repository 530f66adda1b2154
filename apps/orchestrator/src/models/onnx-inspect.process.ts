/**
 * Child process: loads one ONNX file with onnxruntime-node, with the session options nodes
 * use, and sends its inputs and outputs to the parent over IPC. Runs apart from the
 * orchestrator so a file that makes onnxruntime abort, hang or eat memory cannot take the
 * API down; the parent watches its memory.
 */
import { InferenceSession } from 'onnxruntime-node';
import { MODEL_SESSION_OPTIONS } from '@yunbian/inference';
import type { ModelValueInfo } from '@yunbian/models';

export type InspectReply =
  | { ok: true; inputs: ModelValueInfo[]; outputs: ModelValueInfo[]; peakMemoryMb: number }
  | { ok: false; error: string };

function describeValues(values: readonly InferenceSession.ValueMetadata[]): ModelValueInfo[] {
  return values.map((v) =>
    v.isTensor
      ? { name: v.name, isTensor: true, type: v.type, shape: [...v.shape] }
      : { name: v.name, isTensor: false },
  );
}

async function inspect(file: string): Promise<InspectReply> {
  try {
    const session = await InferenceSession.create(file, MODEL_SESSION_OPTIONS);
    const reply: InspectReply = {
      ok: true,
      inputs: describeValues(session.inputMetadata),
      outputs: describeValues(session.outputMetadata),
      // Peak resident memory of this process (maxRSS is in KiB on Linux).
      peakMemoryMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    await session.release();
    return reply;
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

const file = process.argv[2];
void inspect(file).then((reply) => process.send?.(reply, () => process.exit(0)));
