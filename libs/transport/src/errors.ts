// The error classes live in @yunbian/contracts so libraries without NATS (the engine) share them.
export { RemoteError, YunbianError } from '@yunbian/contracts';
