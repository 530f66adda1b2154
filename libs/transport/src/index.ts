export * from './errors';
export * from './nats-transport';
export * from './trace-headers';
export * from './payload-store';
export * from './run-store';
export * from './durability';
export * from './outcome-store';
export * from './site-copy';
