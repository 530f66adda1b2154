export * from './ports';
export * from './executor';
