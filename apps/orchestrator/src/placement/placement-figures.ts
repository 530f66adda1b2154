import type { ComputeObservation } from '@yunbian/placement';

/** Learnt compute times grouped one entry per service (`compute.<base64url of name@version>`), as the site's copy holds them. */
export function observationsByService(observations: readonly ComputeObservation[]): Map<string, ComputeObservation[]> {
  const byService = new Map<string, ComputeObservation[]>();
  for (const o of observations) {
    const key = `compute.${Buffer.from(o.service, 'utf8').toString('base64url')}`;
    let list = byService.get(key);
    if (!list) byService.set(key, (list = []));
    list.push(o);
  }
  for (const list of byService.values()) list.sort((a, b) => a.nodeClass.localeCompare(b.nodeClass));
  return byService;
}
