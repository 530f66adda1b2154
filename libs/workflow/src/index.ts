export * from './definition';
export * from './workflow.schema';
export * from './mapping';
export * from './graph';
export * from './validate';
export * from './run';
export * from './retry';
export * from './decide';
