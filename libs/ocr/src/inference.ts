import type { Tensor } from 'onnxruntime-node';
import type { OnnxModel } from './models';
import type { FloatTensor } from './types';

/** One onnxruntime run of a single-input model; failures name the model and the input shape. */
export async function runModel(model: OnnxModel, input: FloatTensor): Promise<FloatTensor> {
  let output: Tensor | undefined;
  try {
    // Loaded here, not at import (as in models.ts): a session exists, so onnxruntime is in memory already.
    const ort = await import('onnxruntime-node');
    const outputs = await model.session.run({ [model.inputName]: new ort.Tensor('float32', input.data, input.dims) });
    output = outputs[model.outputName];
  } catch (err) {
    throw new Error(
      `onnxruntime failed to run ${model.path} on input [${input.dims.join(', ')}]: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (output?.type !== 'float32') {
    throw new Error(`${model.path} returned ${output?.type ?? 'nothing'} for ${model.outputName}; float32 expected`);
  }
  return { dims: [...output.dims], data: output.data as Float32Array };
}
