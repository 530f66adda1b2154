import type { LatencyFigure, ProfileModelsRequest } from '@yunbian/contracts';

/** Largest batch and run counts a request may ask for (a profile must stay a short measurement). */
export const PROFILE_LIMITS = { models: 4, batch: 1024, runs: 5_000, timeoutMs: 300_000, nodeTimeRuns: 100 };

/** Median, mean and 90th percentile of timings (ms). */
export function latencyFigure(batch: number, times: number[]): LatencyFigure {
  const sorted = [...times].sort((a, b) => a - b);
  const n = sorted.length;
  const round = (v: number) => Math.round(v * 10_000) / 10_000;
  const median = n === 0 ? 0 : n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return {
    batch,
    medianMs: round(median),
    meanMs: round(n ? sorted.reduce((a, v) => a + v, 0) / n : 0),
    p90Ms: round(n ? sorted[Math.min(n - 1, Math.ceil(0.9 * n) - 1)] : 0),
    runs: n,
  };
}

/**
 * Inputs for one timed call of a model: every input float32, its first dimension the batch
 * (fixed or symbolic), the others fixed; values in [0, 1) from a fixed sequence (timing does
 * not depend on them for the CNNs measured here). Throws, naming the input, for what it cannot fill.
 */
export function sampleFeed(
  label: string,
  inputs: { name: string; type: string; shape: readonly (number | string)[] }[],
  batch: number,
): Record<string, { data: Float32Array; dims: number[] }> {
  const feed: Record<string, { data: Float32Array; dims: number[] }> = {};
  for (const input of inputs) {
    if (input.type !== 'float32')
      throw new Error(`${label}: input ${input.name} is ${input.type}; only float32 inputs can be profiled`);
    const dims = input.shape.map((d, i) => {
      if (i === 0) return typeof d === 'number' && d !== batch && d > 0 ? Number.NaN : batch;
      if (typeof d !== 'number' || d < 0)
        throw new Error(
          `${label}: input ${input.name} has a dynamic dimension ${i} ("${d}"); only the first (batch) may be dynamic`,
        );
      return d;
    });
    if (dims.some(Number.isNaN))
      throw new Error(`${label}: input ${input.name} has a fixed batch of ${input.shape[0]}, not ${batch}`);
    if (dims.length === 0) throw new Error(`${label}: input ${input.name} declares no shape`);
    const data = new Float32Array(dims.reduce((a, d) => a * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = ((i * 2_654_435_761) % 1_000) / 1_000;
    feed[input.name] = { data, dims };
  }
  return feed;
}

/** Checks a request's bounds; returns the problem or undefined. */
export function profileRequestProblem(request: ProfileModelsRequest): string | undefined {
  if (!Array.isArray(request.models) || request.models.length === 0 || request.models.length > PROFILE_LIMITS.models)
    return `models must list 1 to ${PROFILE_LIMITS.models} objects`;
  if (request.nodeTimes !== undefined) {
    const { inputShape, runs } = request.nodeTimes;
    if (!Number.isInteger(runs) || runs < 1 || runs > PROFILE_LIMITS.nodeTimeRuns)
      return `nodeTimes.runs must be 1-${PROFILE_LIMITS.nodeTimeRuns} (got ${runs})`;
    if (typeof inputShape !== 'object' || inputShape === null) return 'nodeTimes.inputShape must be an object';
    for (const [name, dims] of Object.entries(inputShape))
      if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d < 1))
        return `nodeTimes.inputShape.${name} must list positive integers (got ${JSON.stringify(dims)})`;
    return undefined;
  }
  if (!Array.isArray(request.batchSizes) || request.batchSizes.length === 0)
    return 'batchSizes must list at least one batch size';
  for (const b of request.batchSizes)
    if (!Number.isInteger(b) || b < 1 || b > PROFILE_LIMITS.batch)
      return `batch sizes must be integers 1-${PROFILE_LIMITS.batch} (got ${b})`;
  for (const [batch, runs] of Object.entries(request.runs ?? {}))
    if (!Number.isInteger(runs) || runs < 1 || runs > PROFILE_LIMITS.runs)
      return `runs for batch ${batch} must be 1-${PROFILE_LIMITS.runs} (got ${runs})`;
  return undefined;
}
