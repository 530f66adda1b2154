export * from './dynamic-batcher';
export * from './wire';
