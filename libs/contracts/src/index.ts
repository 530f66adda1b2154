export * from './subjects';
export * from './errors';
export * from './node';
export * from './service';
export * from './catalog';
export * from './network';
export * from './worker-ipc';
export * from './placement';
