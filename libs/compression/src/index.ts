export * from './int8';
export * from './calibrate';
export * from './evaluate';
export * from './prune';
export * from './recipes';
