/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { addBiasModel, constantOfShapeModel, writeOnnxModel } from './onnx-writer';

/** The writer's models are checked by onnxruntime itself: they load, describe themselves and run. */
describe('onnx-writer', () => {
  it('writes an Add model onnxruntime loads and runs', async () => {
    const session = await InferenceSession.create(addBiasModel(4));
    expect(session.inputMetadata).toEqual([{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 4] }]);
    const { y } = await session.run({ x: new Tensor('float32', new Float32Array([1, 1, 1, 1, 2, 2, 2, 2]), [2, 4]) });
    expect([...(y.data as Float32Array)]).toEqual([1, 2, 3, 4, 2, 3, 4, 5]);
    await session.release();
  });

  it('writes a ConstantOfShape model of a few hundred bytes that runs as declared', async () => {
    const bytes = constantOfShapeModel(3);
    expect(bytes.length).toBeLessThan(300);
    // Optimisations off: nothing is folded, the node runs on demand.
    const session = await InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    const { y } = await session.run({ x: new Tensor('float32', new Float32Array([2]), [1]) });
    expect([...(y.data as Float32Array)]).toEqual([3, 3, 3]);
    await session.release();
  });

  it("encodes int attributes and int64 initialisers onnxruntime reads back (Transpose's perm)", async () => {
    const bytes = writeOnnxModel({
      nodes: [{ op: 'Transpose', inputs: ['x'], outputs: ['y'], attributes: { perm: { ints: [1, 0] } } }],
      inputs: [{ name: 'x', type: 'float32', shape: [2, 3] }],
      outputs: [{ name: 'y', type: 'float32', shape: [3, 2] }],
    });
    const session = await InferenceSession.create(bytes);
    const { y } = await session.run({ x: new Tensor('float32', new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]) });
    expect(y.dims).toEqual([3, 2]);
    expect([...(y.data as Float32Array)]).toEqual([1, 4, 2, 5, 3, 6]);
    await session.release();
  });
});
