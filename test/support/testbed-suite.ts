import { bearer, generateApiKey, waitUntil } from '@yunbian/common';
import { ADMIN_KEY_VARIABLE } from '@yunbian/contracts';

/**
 * What testbed specs share: they need root (network namespaces, tc, iptables), and talk JSON
 * to the orchestrators' REST through the testbed's forwarded ports.
 */

/**
 * The admin key of every testbed this test process starts: Testbed takes YUNBIAN_ADMIN_KEY
 * from the environment when its options give none, so setting it here (unless the caller set
 * it) gives every testbed the key `jsonCall` sends.
 */
export const TESTBED_ADMIN_KEY = (process.env[ADMIN_KEY_VARIABLE] ||= generateApiKey().key);

/** `describe` where the testbed can run (root, or CI), else `describe.skip` with the reason printed. */
export function describeOnTestbed(spec: string): jest.Describe {
  const isRoot = process.getuid?.() === 0;
  const inCi = process.env.CI === 'true';
  if (isRoot || inCi) return describe;
  process.stdout.write(`${spec} e2e skipped: the testbed needs root (network namespaces, tc, iptables)\n`);
  return describe.skip;
}

/** One JSON request with TESTBED_ADMIN_KEY; the status and the parsed body (undefined when empty). */
export async function jsonCall<T>(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { ...bearer(TESTBED_ADMIN_KEY), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * `waitUntil` for testbed specs where a check may throw while a process restarts or a link is
 * cut: a throw counts as "not yet". The timeout's message names the testbed's logs
 * (`logDir` is read when it fires: the testbed starts after the spec defines this).
 */
export function tolerantWait(logDir: () => string, pollMs: number) {
  return <T>(check: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> =>
    waitUntil(
      async () => {
        try {
          return await check();
        } catch {
          return undefined;
        }
      },
      ms,
      `${what} (testbed logs in ${logDir()})`,
      pollMs,
    );
}
