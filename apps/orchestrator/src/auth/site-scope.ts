import type { Principal } from '@yunbian/contracts';

/**
 * Why `principal` may not touch something of `site` (undefined: it may). A credential without
 * sites covers every site; one with sites covers those only, and nothing without a site (a
 * cloud node) — a site-scoped credential is for its sites' nodes, instances and runs.
 */
export function siteProblem(
  principal: Principal | undefined,
  site: string | undefined,
  what: string,
): string | undefined {
  if (!principal?.sites) return undefined;
  if (site && principal.sites.includes(site)) return undefined;
  return `${what} is ${site ? `at site ${site}` : 'at no site (cloud)'}; your credential is limited to sites ${principal.sites.join(', ')}`;
}
