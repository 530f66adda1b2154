export * from './ports';
export * from './executor';
export * from './adapters';
