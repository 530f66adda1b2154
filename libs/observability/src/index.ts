export * from './attributes';
export * from './http-tracing';
export * from './log-correlation';
export * from './metrics';
export * from './nats-propagation';
export * from './spans';
export * from './tracing';
