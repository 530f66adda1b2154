export * from './catalog-view';
export * from './catalog-router';
export * from './follow';
export * from './node-liveness';
