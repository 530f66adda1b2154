/**
 * Jest environment for specs that run onnxruntime-node. onnxruntime's native binding builds
 * its output tensors from this process's own typed arrays, while Jest gives each spec file
 * fresh ones, so its `instanceof Float32Array` check fails ("A float32 tensor's data must be
 * type of function Float32Array()"). Sharing the typed-array constructors fixes that, and
 * also makes Buffers `instanceof Uint8Array` inside the spec as they are outside.
 *
 * Use with a docblock at the top of the spec: `@jest-environment ./libs/ocr/onnx-test-environment.js`
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OnnxTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxTestEnvironment;
