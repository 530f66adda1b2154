export * from './node-descriptor';
