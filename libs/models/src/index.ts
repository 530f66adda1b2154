export * from './model-meta';
export * from './fetch-model';
export * from './model-cache';
