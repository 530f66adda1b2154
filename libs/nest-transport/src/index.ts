export * from './options';
export * from './patterns';
export * from './context';
export * from './yunbian-server';
export * from './yunbian-client-proxy';
