/**
 * The service author's API (defineService, @YunbianService, the handler's types, ServiceError)
 * is the `@yunbian/service-sdk` package in packages/service-sdk, which services outside this
 * repository install. In the repository this library re-exports it beside the host runtime.
 */
export * from '../../../packages/service-sdk/src/service';
