export * from './graph';
export * from './cuts';
export * from './max-flow';
export * from './choose';
export * from './dominance';
export * from './extract';
export * from './measure';
export * from './replan';
