export * from './dynamic-batcher';
export * from './wire';
export * from './session-options';
