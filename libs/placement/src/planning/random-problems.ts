import type { NodeTier } from '@yunbian/contracts';
import { ComputeProfiles } from '../compute-profiles';
import { NetworkModel } from '../network';
import type { Objective } from '../types';
import { seededRandom } from './seeded-random';
import type { DeploymentProblem, OriginLoad, PlannedNode, PlannedService } from './types';

export { seededRandom };

export interface RandomProblemSize {
  services: number;
  nodes: number;
  sites: number;
  /** Runs/s per loaded site, drawn between 1 and this. */
  maxRunsPerSecond?: number;
  objective?: Objective;
}

const TAGS = ['gpu', 'npu', 'camera', 'arm64'];

/**
 * A random but plausible deployment problem for benchmarks and tests: one cloud site and edge
 * sites, GPU/NPU-tagged nodes, services that sometimes need a tag, a tier or edge-private data.
 */
export function randomDeploymentProblem(seed: number, size: RandomProblemSize): DeploymentProblem {
  const random = seededRandom(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  const between = (low: number, high: number) => low + random() * (high - low);
  const sites = Array.from({ length: size.sites }, (_, s) => (s === 0 ? 'cloud' : `edge-${s}`));
  const network = new NetworkModel();
  for (let a = 0; a < sites.length; a++) {
    for (let b = a + 1; b < sites.length; b++) network.setSiteRtt(sites[a], sites[b], Math.round(between(5, 80)));
  }
  const nodes: PlannedNode[] = Array.from({ length: size.nodes }, (_, j) => {
    const site = j < sites.length ? sites[j] : pick(sites);
    const tier: NodeTier = site === 'cloud' ? 'cloud' : 'edge';
    const tags = TAGS.filter(() => random() < 0.35);
    return {
      id: `n${j}`,
      site,
      tier,
      tags,
      memoryMb: pick([1024, 2048, 4096, 8192]),
      cpuCores: pick([1, 2, 4, 8]),
      costPerHour: Math.round((tier === 'cloud' ? between(0.5, 3) : between(0.02, 0.3)) * 1000) / 1000,
      bandwidthMbps: pick([20, 50, 100, 1000]),
    };
  });
  const profiles = new ComputeProfiles();
  const services: PlannedService[] = Array.from({ length: size.services }, (_, i) => {
    const name = `svc${i}`;
    profiles.declare(name, {
      byTagMs: { gpu: Math.round(between(5, 20)), npu: Math.round(between(20, 60)) },
      defaultMs: Math.round(between(50, 200)),
    });
    const roll = random();
    return {
      service: `${name}@1.0.0`,
      concurrency: pick([1, 2, 4, 8]),
      cpuCores: pick([0.5, 1, 2]),
      inputBytes: Math.round(between(1_000, 2_000_000)),
      requirements: {
        memoryMb: pick([128, 256, 512, 1024]),
        tags: roll < 0.15 ? ['gpu'] : roll < 0.25 ? ['camera'] : undefined,
        tier: roll > 0.9 ? 'edge' : undefined,
      },
      dataTier: random() < 0.15 ? 'edge-private' : 'public',
    };
  });
  const load: OriginLoad[] = sites
    .filter((site) => site !== 'cloud')
    .map((site) => ({ site, runsPerSecond: Math.round(between(1, size.maxRunsPerSecond ?? 20) * 10) / 10 }));
  return {
    services,
    nodes,
    load,
    profiles,
    network,
    objective: size.objective ?? pick(['latency', 'cost', { latency: 0.5, cost: 0.5 }]),
  };
}
