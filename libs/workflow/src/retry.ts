import type { ErrorCode } from '@yunbian/contracts';
import { DEFAULT_RETRY, type RetryPolicy } from './definition';

/** Errors that another attempt may cure; the rest (bad input, unknown service…) would fail again. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'TIMEOUT',
  'NO_RESPONDERS',
  'UNAVAILABLE',
  'OVERLOADED',
  'DRAINING',
  'INTERNAL',
]);

export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

export function retryPolicy(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  return { ...DEFAULT_RETRY, ...policy };
}

/** Delay before attempt `failedAttempts + 1`, after `failedAttempts` failures (≥ 1). */
export function retryDelay(policy: Required<RetryPolicy>, failedAttempts: number, random: () => number): number {
  const base =
    policy.backoff === 'fixed'
      ? policy.initialDelayMs
      : Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, failedAttempts - 1));
  const jittered = base * (1 - policy.jitter * random());
  return Math.max(0, Math.round(jittered));
}
