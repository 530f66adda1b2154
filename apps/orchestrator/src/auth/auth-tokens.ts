export type { AuthConfig } from './auth-config';

/** Injection token of the orchestrator's AuthConfig (loaded once in main.ts). */
export const AUTH_CONFIG = Symbol('AUTH_CONFIG');
