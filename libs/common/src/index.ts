export * from './logger';
export * from './smoothing';
export * from './env';
export * from './nats-server';
export * from './schema';
export * from './expression';
export * from './percentiles';
export * from './processes';
