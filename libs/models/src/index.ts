export * from './model-meta';
export * from './fetch-model';
export * from './model-cache';
export * from './onnx-writer';
export * from './model-aliases';
export * from './model-check';
export * from './dataset-format';
export * from './local-files';
