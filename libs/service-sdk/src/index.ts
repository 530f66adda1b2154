export * from './service.decorator';
export * from './service-library';
export * from './service-host';
export * from './result-cache';
