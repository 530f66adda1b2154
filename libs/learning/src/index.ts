export * from './digits';
export * from './cnn';
export * from './onnx-export';
export * from './onnx-import';
export * from './shrink';
export * from './shifts';
export * from './checkpoint';
