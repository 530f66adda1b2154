import { readFileSync } from 'node:fs';
import type { RestClient } from './rest-client';

/**
 * Handler executions of the `counted` fixture service (test/fixtures/services/outage-fixtures),
 * which appends each execution's idempotency key (`run:step:attempt`) to COUNTED_LOG: the
 * executions per `run:step`, the attempt number dropped.
 */
export function countedExecutions(countedLog: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(countedLog, 'utf8').split('\n').filter(Boolean)) {
    const runStep = line.split(' ')[0].replace(/:\d+$/, '');
    counts.set(runStep, (counts.get(runStep) ?? 0) + 1);
  }
  return counts;
}

/** Defines a durable workflow of two `counted` steps (`a`, then `b`), each waiting `stepMs`. */
export async function defineCounted(
  rest: RestClient,
  name: string,
  stepMs: number,
  service = 'counted',
  extra: Record<string, unknown> = {},
): Promise<void> {
  const { status, body } = await rest.call('POST', '/workflows', {
    name,
    durability: 'durable',
    steps: [
      { id: 'a', service: `${service}@^1`, input: { value: '=$input.i', delayMs: stepMs } },
      { id: 'b', service: `${service}@^1`, input: { value: '=$steps.a.output.value', delayMs: stepMs } },
    ],
    output: '$steps.b.output.value',
    ...extra,
  });
  if (status !== 201) throw new Error(`POST /workflows ${name}: ${status} ${JSON.stringify(body)}`);
}
