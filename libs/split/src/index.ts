export * from './graph';
export * from './cuts';
export * from './max-flow';
export * from './choose';
export * from './extract';
export * from './measure';
export * from './replan';
