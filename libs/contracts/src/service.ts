import type { ErrorBody } from './errors';
// What a service declares about itself is defined in the SDK package service authors
// install (packages/service-sdk), and shared from there: one definition for both sides.
export {
  SERVICE_KINDS,
  SERVICE_ISOLATIONS,
  type ServiceKind,
  type ServiceIsolation,
  type ServiceRequirements,
  type ServiceDescriptor,
} from '../../../packages/service-sdk/src/vocabulary';

/** The KV bucket of outcomes kept by idempotency key (services that declare `durableResults`). */
export const OUTCOME_BUCKET = 'yb-outcomes';

/** One request's outcome as a worker keeps it: the reply's value, or its error. */
export type StoredOutcome = { ok: true; output: unknown } | { ok: false; error: ErrorBody };

export const serviceRef = (s: { name: string; version: string }) => `${s.name}@${s.version}`;
