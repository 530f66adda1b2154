export * from './errors';
export * from './nats-transport';
export * from './trace-headers';
export * from './transport.module';
export * from './payload-store';
