export * from './digits';
export * from './cnn';
export * from './onnx-export';
