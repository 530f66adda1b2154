export * from './vocabulary';
export * from './service';
