export * from './tensor';
export * from './model';
export * from './graph';
