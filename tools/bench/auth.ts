/**
 * What REST authentication costs a request: `npm run bench:auth`. One orchestrator on a
 * bench stack; rounds of sequential requests on loopback, interleaved so drift on a shared
 * machine weighs on every kind alike: `GET /catalog/stats` with the admin key (the guard looks
 * the key up, cached 1 s, checks role and rate limit), the same route without a credential
 * (401: the guard's refusal), and `GET /health/live` (open, no guard work) as the baseline.
 *
 *   npm run bench:auth            BENCH_AUTH_REQUESTS=1000 BENCH_AUTH_ROUNDS=5
 */
import { startBenchStack } from './bench-stack';
import { apiFetch } from '../common/api-key';

const REQUESTS = Number(process.env.BENCH_AUTH_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_AUTH_ROUNDS ?? 5);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const stack = await startBenchStack();
  try {
    const kinds: Record<string, { run: () => Promise<Response>; status: number }> = {
      'GET /health/live (open)': { run: () => fetch(`${stack.api}/health/live`), status: 200 },
      'GET /catalog/stats with the key': { run: () => apiFetch(`${stack.api}/catalog/stats`), status: 200 },
      'GET /catalog/stats without a key (401)': { run: () => fetch(`${stack.api}/catalog/stats`), status: 401 },
    };
    const perRequest: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
    for (const { run } of Object.values(kinds)) for (let i = 0; i < 50; i++) await (await run()).arrayBuffer(); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, { run, status }] of Object.entries(kinds)) {
        const start = performance.now();
        for (let i = 0; i < REQUESTS; i++) {
          const response = await run();
          await response.arrayBuffer();
          if (response.status !== status) throw new Error(`${name}: status ${response.status}, expected ${status}`);
        }
        perRequest[name].push((performance.now() - start) / REQUESTS);
      }
    }
    const open = median(perRequest['GET /health/live (open)']);
    process.stdout.write(`${REQUESTS} sequential requests × ${ROUNDS} rounds; median ms per request:\n`);
    for (const [name, values] of Object.entries(perRequest)) {
      const m = median(values);
      process.stdout.write(
        `  ${name.padEnd(40)} ${m.toFixed(3)} ms  (${(m / open).toFixed(2)}× the open route; rounds ${values.map((v) => v.toFixed(3)).join(', ')})\n`,
      );
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:auth failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
